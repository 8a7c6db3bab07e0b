// The demo page: decode the chosen image, send its pixels to the worker, show and offer the
// result. 8-bit PNGs are read and the result written by png.mjs (exact values, alpha
// included); other images are decoded by the browser without colour management
// (createImageBitmap options), through a canvas, which keeps opaque pixels exact.
import { decodePNG, encodePNG } from './png.mjs';

const $ = (id) => document.getElementById(id);
const worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
let input = null; // {name, image: ImageData}
let modelUrl = null;
let customModel = null; // object URL of a chosen .onnx file
let job = 0;

$('isolation').textContent = self.crossOriginIsolated
  ? 'Cross-origin isolated: ONNX Runtime runs with threads.'
  : 'Not cross-origin isolated (serve with COOP/COEP headers): ONNX Runtime runs on one thread.';

function status(text) { $('status').textContent = text; }

function ready() { $('run').disabled = !(input && ($('model').value || customModel)); }

async function loadModels() {
  try {
    const response = await fetch('models/index.json');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const index = await response.json();
    for (const m of index.models) {
      const option = document.createElement('option');
      option.value = `models/${m.file}`;
      option.textContent = `${m.name} (x${m.scale}, ${m.precision})`;
      $('model').append(option);
    }
    const preferred = index.models.find((m) => m.name === 'rsp-x2-int8') ?? index.models[0];
    if (preferred) $('model').value = `models/${preferred.file}`;
  } catch (err) {
    status(`No model list at models/index.json (${err.message}): choose an .onnx file.`);
  }
  ready();
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

async function loadImage(file) {
  let image;
  try {
    image = await decode(file);
  } catch (err) {
    status(`Cannot read ${file.name}: ${err.message ?? err}`);
    return;
  }
  const canvas = $('input');
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d').putImageData(image, 0, 0);
  input = { name: file.name, image };
  $('input-caption').textContent = `Input: ${file.name}, ${image.width} x ${image.height}`;
  $('output').width = $('output').height = 0;
  $('output-caption').textContent = 'Output';
  setDownload(null);
  status('Ready: press Upscale.');
  ready();
}

function setDownload(url, name) {
  const a = $('download');
  if (a.href && a.href.startsWith('blob:')) URL.revokeObjectURL(a.href);
  if (url) { a.href = url; a.download = name; a.classList.remove('disabled'); a.setAttribute('aria-disabled', 'false'); }
  else { a.removeAttribute('href'); a.classList.add('disabled'); a.setAttribute('aria-disabled', 'true'); }
}

function run() {
  if (!input) return;
  const id = ++job;
  modelUrl = customModel ?? $('model').value;
  $('run').disabled = true;
  $('progress').value = 0;
  setDownload(null);
  document.body.dataset.state = 'running';
  status('Starting...');
  worker.postMessage({ id, modelUrl, image: input.image });
}

worker.onmessage = (event) => {
  const msg = event.data;
  if (msg.id !== job) return;
  if (msg.type === 'status') status(msg.text);
  else if (msg.type === 'progress') {
    $('progress').value = msg.done / msg.total;
    status(`Upscaling: ${Math.round((100 * msg.done) / msg.total)}%`);
  } else if (msg.type === 'error') {
    status(`Error: ${msg.message}`);
    document.body.dataset.state = 'error';
    ready();
  } else if (msg.type === 'done') {
    const canvas = $('output');
    canvas.width = msg.image.width;
    canvas.height = msg.image.height;
    canvas.getContext('2d').putImageData(msg.image, 0, 0);
    $('output-caption').textContent = `Output: x${msg.scale}, ${msg.image.width} x ${msg.image.height}`;
    const base = input.name.replace(/\.[^.]*$/, '');
    encodePNG(msg.image).then((blob) => {
      setDownload(URL.createObjectURL(blob), `${base}-x${msg.scale}.png`);
      $('progress').value = 1;
      status(`Done in ${msg.seconds.toFixed(2)} s (${msg.threads} thread${msg.threads > 1 ? 's' : ''}).`);
      document.body.dataset.state = 'done';
      ready();
    });
  }
};
worker.onerror = (event) => { status(`Worker error: ${event.message}`); ready(); };

$('file').addEventListener('change', () => {
  const f = $('file').files[0];
  $('file').value = ''; // choosing the same file again loads it again
  if (f) loadImage(f);
});
$('model').addEventListener('change', () => { customModel = null; $('model-file').value = ''; ready(); });
$('model-file').addEventListener('change', () => {
  const f = $('model-file').files[0];
  if (customModel) URL.revokeObjectURL(customModel);
  customModel = f ? URL.createObjectURL(f) : null;
  ready();
});
$('run').addEventListener('click', run);
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = [...e.dataTransfer.files].find((x) => x.type.startsWith('image/'));
  if (f) loadImage(f);
});
loadModels();
