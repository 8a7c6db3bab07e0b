// The page's worker: loads a model with onnxruntime-web and upscales one image per message, so
// the page stays responsive; the PNG is written here too, each row of tiles as it is done, so
// the full-size output is never held, nor sent to the page (it gets a preview to draw and the
// PNG file).
//
// Backend: WebGPU (onnxruntime-web's WebGPU build, ort.webgpu.min.mjs, whose WebAssembly runs
// what WebGPU does not) when asked and the browser gives an adapter
// (navigator.gpu.requestAdapter()), else WebAssembly (ort.wasm.min.mjs: SIMD, threads when the
// page is cross-origin isolated). One worker loads one build: the page starts a new worker to
// change the choice.
//
// Messages in:  {id, type: 'run', modelUrl, modelName, image: ImageData, backend: 'auto' |
//                'webgpu' | 'wasm', previewPixels}
//               {id, type: 'estimate', key, modelUrl, width, height, backend}
// Messages out: {id, type: 'status', text} | {id, type: 'backend', backend, reason}
//               | {id, type: 'progress', done, total, tile, tiles, phase}
//               | {id, type: 'estimate', key, seconds, bytes, rate, backend} (or {.., error})
//               | {id, type: 'encoding', done, total}
//               | {id, type: 'done', png: Blob, preview: ImageData, width, height, scale,
//                  seconds, encodeSeconds, backend, threads, name}
//               | {id, type: 'error', message}
import { Upscaler, estimateBytes, hasAlpha, readDescriptor, unsupported } from './sronnx.mjs';
import { PNGStream } from './png.mjs';

const DIST = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;
// Threads need SharedArrayBuffer, which only a cross-origin isolated page has (COOP + COEP
// headers on every response); without them one thread.
const threads = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;

let runtime = null; // {ort, backend: 'webgpu' | 'wasm', reason}
let loaded = { url: null, upscaler: null, reason: null };

/** Why WebGPU cannot be used here, or null when an adapter is there. */
async function webgpuUnavailable() {
  if (!('gpu' in navigator)) return 'this browser has no WebGPU (navigator.gpu)';
  try {
    const adapter = await navigator.gpu.requestAdapter();
    return adapter ? null : 'the browser gives no WebGPU adapter';
  } catch (err) {
    return `requestAdapter failed: ${err.message ?? err}`;
  }
}

/** onnxruntime-web for `wanted` ('auto' | 'webgpu' | 'wasm'), loaded once per worker. */
async function runtimeFor(wanted) {
  if (runtime) return runtime;
  let backend = 'wasm';
  let reason = wanted === 'wasm' ? 'WebAssembly was chosen' : null;
  if (wanted !== 'wasm') {
    reason = await webgpuUnavailable();
    if (reason === null) backend = 'webgpu';
  }
  const file = backend === 'webgpu' ? 'ort.webgpu.min.mjs' : 'ort.wasm.min.mjs';
  const ort = await import(DIST + file);
  ort.env.wasm.wasmPaths = DIST;
  ort.env.wasm.numThreads = threads;
  runtime = { ort, backend, reason: reason ?? 'a WebGPU adapter is there' };
  return runtime;
}

async function upscalerFor(modelUrl, wanted, id) {
  const rt = await runtimeFor(wanted);
  if (loaded.url !== modelUrl) {
    postMessage({ id, type: 'status', text: `Loading the model (${rt.backend === 'webgpu' ? 'WebGPU' : 'WebAssembly'})...` });
    const response = await fetch(modelUrl);
    if (!response.ok) throw new Error(`${modelUrl}: HTTP ${response.status}`);
    const bytes = await response.arrayBuffer();
    loaded = { url: null, upscaler: null, reason: null };
    const make = (backend) => Upscaler.create(rt.ort, bytes, {
      sessionOptions: { executionProviders: [backend], graphOptimizationLevel: 'all' },
    });
    const why = unsupported(readDescriptor(new Uint8Array(bytes)));
    if (why) throw new Error(why);
    let upscaler;
    let reason = rt.reason;
    try {
      upscaler = await make(rt.backend);
    } catch (err) {
      if (rt.backend !== 'webgpu') throw err;
      // the WebGPU build runs WebAssembly too: said on the page, never silent
      reason = `WebGPU could not load this model: ${err.message ?? err}`;
      upscaler = await make('wasm');
    }
    loaded = { url: modelUrl, upscaler, reason };
  }
  return loaded.upscaler;
}

/** Seconds per input pixel of `up`, timed on a 256 x 256 window after one warm-up run. */
async function measureRate(up) {
  const n = 256;
  const x = new Float32Array(3 * n * n).fill(0.5);
  await up.run(x, n, n);
  const t0 = performance.now();
  await up.run(x, n, n);
  return (performance.now() - t0) / 1000 / (n * n);
}

/** A preview of a width x height image with at most `maxPixels` pixels (every k-th pixel of
 * every k-th row, k >= 1), filled band by band with `add({y0, y1, data})`. */
function previewOf(width, height, maxPixels) {
  const k = Math.max(1, Math.ceil(Math.sqrt((width * height) / maxPixels)));
  const w = Math.ceil(width / k);
  const h = Math.ceil(height / k);
  const image = new ImageData(w, h);
  const dst = new Uint32Array(image.data.buffer);
  const add = ({ y0, y1, data }) => {
    const src = new Uint32Array(data.buffer, data.byteOffset, (y1 - y0) * width);
    for (let y = Math.ceil(y0 / k) * k; y < y1; y += k) {
      const row = (y - y0) * width;
      const out = (y / k) * w;
      for (let x = 0; x < w; x++) dst[out + x] = src[row + x * k];
    }
  };
  return { image, step: k, add };
}

async function estimate(msg) {
  const up = await upscalerFor(msg.modelUrl, msg.backend, null); // no status: not a run
  const rate = await measureRate(up);
  const tiles = up.plan(msg.width, msg.height);
  postMessage({
    id: msg.id, type: 'estimate', key: msg.key, rate, seconds: rate * tiles.windowPixels,
    bytes: estimateBytes(msg.width, msg.height, up.scale), backend: up.backend,
  });
}

async function run(msg) {
  const { id, modelUrl, image } = msg;
  const up = await upscalerFor(modelUrl, msg.backend, id);
  const label = up.backend === 'webgpu' ? 'WebGPU' : 'WebAssembly';
  postMessage({ id, type: 'backend', backend: up.backend, reason: loaded.reason });
  postMessage({ id, type: 'status', text: `Upscaling x${up.scale} on ${label}...` });
  const started = performance.now();
  const [width, height] = [image.width * up.scale, image.height * up.scale];
  // the PNG is written as the rows of tiles finish: RGBA when the input has alpha (as Python
  // keeps an RGBA image's mode), and no full-size output is ever held
  const png = new PNGStream(width, height, hasAlpha(image.data));
  const shown = previewOf(width, height, msg.previewPixels ?? 16e6);
  let encodeMs = 0;
  const out = await up.upscale(image, {
    onProgress: (done, total, info = {}) => postMessage({ id, type: 'progress', done, total, ...info }),
    onRows: async (band) => {
      const t = performance.now();
      shown.add(band);
      await png.write(band.data);
      encodeMs += performance.now() - t;
    },
  });
  postMessage({ id, type: 'encoding', done: height, total: height });
  const t1 = performance.now();
  const file = await png.finish();
  const encodeSeconds = (encodeMs + performance.now() - t1) / 1000;
  const seconds = (performance.now() - started) / 1000 - encodeSeconds;
  postMessage({
    id, type: 'done', png: file, preview: shown.image, step: shown.step, width, height,
    scale: up.scale, seconds, encodeSeconds, backend: out.backend, threads,
    crossOriginIsolated: self.crossOriginIsolated,
  }, [shown.image.data.buffer]);
}

async function handle(msg) {
  try {
    if (msg.type === 'estimate') await estimate(msg);
    else await run(msg);
  } catch (err) {
    const message = String(err && err.message ? err.message : err);
    if (msg.type === 'estimate') postMessage({ id: msg.id, type: 'estimate', key: msg.key, error: message });
    else postMessage({ id: msg.id, type: 'error', message });
  }
}

// one message at a time, in order: an estimate and the run after it share the model load
let queue = Promise.resolve();
self.onmessage = (event) => { queue = queue.then(() => handle(event.data)); };
