// The demo page: decode the chosen image, send its pixels to the worker, show and offer the
// result. 8-bit PNGs are read by png.mjs (exact values, alpha included); other images are
// decoded by the browser without colour management (createImageBitmap options), through a
// canvas, which keeps opaque pixels exact. The worker upscales and encodes the PNG; the page
// gets the file and a preview to draw (the full image when it has at most 16 MP).
//
// URL parameters: ?backend=auto|webgpu|wasm (the menu's first choice), ?large=N (input
// pixels from which the page warns of time and memory, default 4,000,000), ?preview=N (the
// most output pixels drawn, default 16,000,000; a larger output is drawn every k-th pixel).
import { decodePNG } from './png.mjs';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const LARGE = Number(params.get('large')) || 4e6;
const PREVIEW_PIXELS = Number(params.get('preview')) || 16e6;
const BACKEND_NAMES = { webgpu: 'WebGPU', wasm: 'WebAssembly' };
let worker = null;
let input = null; // {name, image: ImageData}
let job = 0;
let estimateKey = null; // what the warning shown was estimated for
let ticker = null;

$('isolation').textContent = self.crossOriginIsolated
  ? 'Cross-origin isolated: ONNX Runtime runs with threads.'
  : 'Not cross-origin isolated (serve with COOP/COEP headers): ONNX Runtime runs on one thread.';

function status(text) { $('status').textContent = text; }

function ready() {
  const running = document.body.dataset.state === 'running';
  $('run').disabled = running || !(input && $('model').value);
  $('stop').hidden = !running;
}

function startWorker() {
  if (worker) worker.terminate();
  worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
  worker.onmessage = onMessage;
  worker.onerror = (event) => {
    stopTicker();
    status(`Worker error: ${event.message}`);
    document.body.dataset.state = 'error';
    ready();
  };
}

function addModelOption(value, label, name) {
  const option = document.createElement('option');
  option.value = value;
  option.textContent = label;
  option.dataset.name = name;
  $('model').append(option);
  return option;
}

async function loadModels() {
  try {
    const response = await fetch('models/index.json');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const index = await response.json();
    for (const m of index.models) {
      addModelOption(`models/${m.file}`, `${m.name} (x${m.scale}, ${m.precision})`, m.name);
    }
    const preferred = index.models.find((m) => m.name === 'rsp-x2-int8') ?? index.models[0];
    if (preferred) $('model').value = `models/${preferred.file}`;
  } catch (err) {
    status(`No model list at models/index.json (${err.message}): choose an .onnx file.`);
  }
  ready();
}

/** The model chosen: {url, name} (name: the shipped model's name or the file's stem). */
function chosenModel() {
  const option = $('model').selectedOptions[0];
  return option ? { url: option.value, name: option.dataset.name } : null;
}

async function decode(file) {
  const png = await decodePNG(await file.arrayBuffer()).catch(() => null);
  if (png) return new ImageData(png.data, png.width, png.height);
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

function clearOutput() {
  $('output').width = $('output').height = 0;
  $('output-caption').textContent = 'Output';
  setDownload(null);
}

function setWarning(text) {
  $('warning').textContent = text ?? '';
  $('warning').hidden = !text;
}

async function loadImage(file) {
  let image;
  try {
    image = await decode(file);
  } catch (err) {
    // nothing of the previous image may stay: Upscale would run it under the new name
    input = null;
    $('input').width = $('input').height = 0;
    $('input-caption').textContent = 'Input';
    clearOutput();
    setWarning(null);
    estimateKey = null;
    document.body.dataset.state = 'idle';
    status(`Cannot read ${file.name}: ${err.message ?? err}`);
    ready();
    return;
  }
  const canvas = $('input');
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d').putImageData(image, 0, 0);
  input = { name: file.name, image };
  $('input-caption').textContent = `Input: ${file.name}, ${image.width} x ${image.height}`;
  clearOutput();
  setWarning(null);
  estimateKey = null;
  document.body.dataset.state = 'idle';
  status('Ready: press Upscale.');
  ready();
  estimateIfLarge();
}

function setDownload(url, name) {
  const a = $('download');
  if (a.href && a.href.startsWith('blob:')) URL.revokeObjectURL(a.href);
  if (url) { a.href = url; a.download = name; a.classList.remove('disabled'); a.setAttribute('aria-disabled', 'false'); }
  else { a.removeAttribute('href'); a.classList.add('disabled'); a.setAttribute('aria-disabled', 'true'); }
}

function formatSeconds(s) {
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** For an image of at least LARGE pixels: ask the worker to time the model (one 256 x 256
 * run) and show the expected time and memory before anything runs. */
function estimateIfLarge() {
  const model = chosenModel();
  if (!input || !model || input.image.width * input.image.height < LARGE) return false;
  const key = `${model.url} ${$('backend').value} ${input.image.width}x${input.image.height}`;
  if (estimateKey === key) return false;
  estimateKey = key;
  setWarning(`Large image (${(input.image.width * input.image.height / 1e6).toFixed(1)} MP): `
    + 'timing the model to estimate how long it takes...');
  worker.postMessage({ id: job, type: 'estimate', key, modelUrl: model.url,
    backend: $('backend').value, width: input.image.width, height: input.image.height });
  return true;
}

function showEstimate(msg) {
  const { width: w, height: h } = input.image;
  if (msg.error) {
    setWarning(`Large image: ${w} x ${h} (${(w * h / 1e6).toFixed(1)} MP); no estimate (${msg.error}).`);
    return;
  }
  setWarning(`Large image: ${w} x ${h} (${(w * h / 1e6).toFixed(1)} MP). Expected about `
    + `${formatSeconds(msg.seconds)} on ${BACKEND_NAMES[msg.backend]} (measured here: `
    + `${(1e-6 / msg.rate).toFixed(2)} MP of model input per second) and about `
    + `${(msg.bytes / 2 ** 30).toFixed(1)} GB of memory besides the browser's own; Stop ends it.`);
}

function startTicker() {
  const started = performance.now();
  stopTicker();
  ticker = setInterval(() => {
    $('elapsed').textContent = `${Math.round((performance.now() - started) / 1000)} s`;
  }, 1000);
}

function stopTicker() {
  if (ticker) clearInterval(ticker);
  ticker = null;
  $('elapsed').textContent = '';
}

function run() {
  const model = chosenModel();
  if (!input || !model) return;
  const id = ++job;
  estimateIfLarge();
  document.body.dataset.state = 'running';
  ready();
  $('progress').value = 0;
  setDownload(null);
  status('Starting...');
  startTicker();
  worker.postMessage({ id, type: 'run', modelUrl: model.url, modelName: model.name,
    image: input.image, backend: $('backend').value, previewPixels: PREVIEW_PIXELS });
}

function onProgress(msg) {
  const pct = Math.round((100 * msg.done) / msg.total);
  if (msg.phase === 'model' && msg.done === 0) {
    // nothing written yet (a one-tile image: until the end): say what runs, not 0%
    $('progress').removeAttribute('value');
    status(`Upscaling: the model runs on tile ${msg.tile} of ${msg.tiles}...`);
  } else {
    $('progress').value = msg.done / msg.total;
    status(`Upscaling: ${pct}% (tile ${msg.tile} of ${msg.tiles})`);
  }
}

function onDone(msg) {
  stopTicker();
  const canvas = $('output');
  canvas.width = msg.preview.width;
  canvas.height = msg.preview.height;
  canvas.getContext('2d').putImageData(msg.preview, 0, 0);
  const model = chosenModel();
  const name = model?.name ?? 'model';
  const shown = msg.step > 1 ? ` (shown at 1/${msg.step})` : '';
  $('output-caption').textContent = `Output: x${msg.scale} (${name}), ${msg.width} x ${msg.height}${shown}`;
  const base = input.name.replace(/\.[^.]*$/, '');
  setDownload(URL.createObjectURL(msg.png), `${base}-x${msg.scale}-${name}.png`);
  $('progress').value = 1;
  const ran = msg.backend === 'webgpu' ? 'WebGPU' : `WebAssembly (${msg.threads} thread${msg.threads > 1 ? 's' : ''})`;
  status(`Done in ${msg.seconds.toFixed(2)} s on ${ran}; PNG ${msg.encodeSeconds.toFixed(2)} s.`);
  document.body.dataset.state = 'done';
  ready();
}

function onMessage(event) {
  const msg = event.data;
  if (msg.type === 'estimate') {
    if (input && msg.key === estimateKey) showEstimate(msg);
    return;
  }
  if (msg.id !== job) return;
  if (msg.type === 'status') status(msg.text);
  else if (msg.type === 'backend') {
    document.body.dataset.backend = msg.backend;
    $('backend-used').textContent = msg.backend === 'webgpu'
      ? 'Backend: WebGPU.' : `Backend: WebAssembly (${msg.reason}).`;
  } else if (msg.type === 'progress') onProgress(msg);
  else if (msg.type === 'encoding') {
    $('progress').value = msg.done / msg.total;
    status(msg.done === msg.total ? 'Encoding PNG: the last rows...'
      : `Encoding PNG: ${Math.round((100 * msg.done) / msg.total)}%`);
  } else if (msg.type === 'error') {
    stopTicker();
    status(`Error: ${msg.message}`);
    document.body.dataset.state = 'error';
    ready();
  } else if (msg.type === 'done') onDone(msg);
}

$('file').addEventListener('change', () => {
  const f = $('file').files[0];
  $('file').value = ''; // choosing the same file again loads it again
  if (f) loadImage(f);
});
$('model').addEventListener('change', () => { estimateIfLarge(); ready(); });
$('model-file').addEventListener('change', () => {
  const f = $('model-file').files[0];
  $('model-file').value = '';
  if (!f) return;
  const old = $('model').querySelector('option[data-file]');
  if (old) { URL.revokeObjectURL(old.value); old.remove(); }
  const option = addModelOption(URL.createObjectURL(f), `${f.name} (your file)`, f.name.replace(/\.onnx$/i, ''));
  option.dataset.file = f.name;
  $('model').value = option.value;
  estimateIfLarge();
  ready();
});
$('backend').addEventListener('change', () => {
  startWorker(); // one worker loads one onnxruntime-web build
  $('backend-used').textContent = '';
  estimateKey = null;
  estimateIfLarge();
});
$('run').addEventListener('click', run);
$('stop').addEventListener('click', () => {
  job++;
  stopTicker();
  startWorker();
  estimateKey = null;
  $('progress').value = 0;
  document.body.dataset.state = 'idle';
  status('Stopped.');
  ready();
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = [...e.dataTransfer.files].find((x) => x.type.startsWith('image/'));
  if (f) loadImage(f);
});
const initial = params.get('backend');
if (initial && [...$('backend').options].some((o) => o.value === initial)) $('backend').value = initial;
startWorker();
loadModels();
