// Upscale a PNG with an sronnx ONNX model in Node:
//   node upscale.mjs MODEL.onnx IN.png OUT.png [--threads N]
// The tiling, the descriptor reading and the pixel steps are the web kit's
// (../../sronnx/web/sronnx.mjs), run here by onnxruntime-node instead of onnxruntime-web.
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import ort from 'onnxruntime-node';
import pngjs from 'pngjs';
import { Upscaler, hasAlpha } from '../../sronnx/web/sronnx.mjs';

const { PNG } = pngjs;

function usage(message) {
  if (message) console.error(`error: ${message}`);
  console.error('usage: node upscale.mjs MODEL.onnx IN.png OUT.png [--threads N]');
  process.exit(2);
}

const args = process.argv.slice(2);
let threads = Math.min(availableParallelism(), 8);
const t = args.indexOf('--threads');
if (t >= 0) {
  threads = Number(args[t + 1]);
  if (!(Number.isInteger(threads) && threads >= 1)) usage('--threads takes a whole number >= 1');
  args.splice(t, 2);
}
if (args.length !== 3) usage();
const [modelPath, inPath, outPath] = args;

let png;
try {
  png = PNG.sync.read(readFileSync(inPath), { skipRescale: true });
} catch (err) {
  usage(`cannot read ${inPath} as a PNG: ${err.message}`);
}
if (png.depth !== 8) usage(`${inPath} has ${png.depth}-bit channels; this example takes 8-bit PNGs`);

const up = await Upscaler.create(ort, readFileSync(modelPath), {
  sessionOptions: { intraOpNumThreads: threads, interOpNumThreads: 1 },
});
const started = performance.now();
const result = await up.upscale(
  { width: png.width, height: png.height, data: png.data },
  {
    onProgress: (done, total) => {
      if (process.stderr.isTTY) process.stderr.write(`\r${Math.round((100 * done) / total)}%`);
    },
  },
);
if (process.stderr.isTTY) process.stderr.write('\r');
const out = new PNG({ width: result.width, height: result.height });
out.data = Buffer.from(result.data.buffer, result.data.byteOffset, result.data.byteLength);
const alpha = hasAlpha(png.data);
writeFileSync(outPath, PNG.sync.write(out, { colorType: alpha ? 6 : 2 }));
const seconds = ((performance.now() - started) / 1000).toFixed(2);
console.log(`${inPath} ${png.width}x${png.height} -> ${outPath} ${result.width}x${result.height} ` +
  `(x${up.scale}, ${alpha ? 'RGBA' : 'RGB'}, ${seconds} s)`);
