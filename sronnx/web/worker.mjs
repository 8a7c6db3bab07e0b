// The page's worker: loads a model with onnxruntime-web (WebAssembly, SIMD, threads when the
// page is cross-origin isolated) and upscales one image per message, so the page stays
// responsive. Messages in: {id, modelUrl, image: ImageData}; out: {id, type: 'status' |
// 'progress' | 'done' | 'error', ...}.
import * as ort from './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
import { Upscaler } from './sronnx.mjs';

ort.env.wasm.wasmPaths = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;
// Threads need SharedArrayBuffer, which only a cross-origin isolated page has (COOP + COEP
// headers on every response); without them one thread.
const threads = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
ort.env.wasm.numThreads = threads;

let loaded = { url: null, upscaler: null };

async function upscalerFor(modelUrl, id) {
  if (loaded.url !== modelUrl) {
    postMessage({ id, type: 'status', text: `loading ${modelUrl}` });
    const response = await fetch(modelUrl);
    if (!response.ok) throw new Error(`${modelUrl}: HTTP ${response.status}`);
    const bytes = await response.arrayBuffer();
    loaded = { url: null, upscaler: null };
    const upscaler = await Upscaler.create(ort, bytes, {
      sessionOptions: { executionProviders: ['wasm'], graphOptimizationLevel: 'all' },
    });
    loaded = { url: modelUrl, upscaler };
  }
  return loaded.upscaler;
}

self.onmessage = async (event) => {
  const { id, modelUrl, image } = event.data;
  try {
    const up = await upscalerFor(modelUrl, id);
    postMessage({ id, type: 'status', text: `upscaling x${up.scale} with ${threads} thread(s)` });
    const started = performance.now();
    const out = await up.upscale(image, {
      onProgress: (done, total) => postMessage({ id, type: 'progress', done, total }),
    });
    const result = new ImageData(out.data, out.width, out.height);
    postMessage({
      id, type: 'done', image: result, seconds: (performance.now() - started) / 1000,
      scale: up.scale, threads, crossOriginIsolated: self.crossOriginIsolated,
    }, [result.data.buffer]);
  } catch (err) {
    postMessage({ id, type: 'error', message: String(err && err.message ? err.message : err) });
  }
};
