// Runs one ONNX model on onnxruntime-web (WebAssembly, in Node) or onnxruntime-node for
// `sronnx verify --runtimes ort-web,ort-node` (sronnx/matrix.py):
//   node verify_runner.mjs web|node PACKAGE_DIR JOB.json
// PACKAGE_DIR is the installed npm package (web/node_modules/onnxruntime-web or
// examples/node/node_modules/onnxruntime-node). JOB.json:
//   { "model": PATH, "threads": N, "cases": [{ "input": PATH, "shape": [n, c, h, w],
//     "output": PATH, "repeat": R }] }
// Inputs and outputs are raw little-endian float32 files. Prints one JSON line:
//   { "version": "...", "outputs": [{ "shape": [...], "ms": [..R timings..] }] }
// or { "error": "...", "stage": "load" | "run" } (exit 0 either way: Python judges).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [kind, pkgDir, jobPath] = process.argv.slice(2);
if (!['web', 'node'].includes(kind) || !pkgDir || !jobPath) {
  console.error('usage: node verify_runner.mjs web|node PACKAGE_DIR JOB.json');
  process.exit(2);
}
const job = JSON.parse(readFileSync(jobPath, 'utf8'));
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const entry = kind === 'web' ? join(pkgDir, 'dist', 'ort.node.min.mjs') : join(pkgDir, pkg.main);
const mod = await import(pathToFileURL(entry).href);
const ort = mod.default ?? mod;
const options = {};
if (kind === 'web') {
  ort.env.wasm.numThreads = job.threads ?? 1;
  options.executionProviders = ['wasm'];
} else {
  options.intraOpNumThreads = job.threads ?? 1;
  options.interOpNumThreads = 1;
}

function done(result) {
  process.stdout.write(`${JSON.stringify({ version: pkg.version, ...result })}\n`);
  process.exit(0);
}

let session;
try {
  session = await ort.InferenceSession.create(readFileSync(job.model), options);
} catch (err) {
  done({ error: String(err?.message ?? err), stage: 'load' });
}
const outputs = [];
try {
  for (const c of job.cases) {
    const buf = readFileSync(c.input);
    const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, c.shape) };
    const ms = [];
    let out;
    for (let r = 0; r < Math.max(1, c.repeat ?? 1); r += 1) {
      const t0 = performance.now();
      const res = await session.run(feeds);
      ms.push(performance.now() - t0);
      out = res[session.outputNames[0]];
    }
    const bytes = Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength);
    writeFileSync(c.output, bytes);
    outputs.push({ shape: out.dims, ms });
  }
} catch (err) {
  done({ error: String(err?.message ?? err), stage: 'run' });
}
done({ outputs });
