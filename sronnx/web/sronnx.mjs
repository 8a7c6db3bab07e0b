// sronnx in JavaScript: the descriptor reader and the tiled upscaler of
// sronnx.runtime.upscaler (Python), without the DOM and without importing a runtime.
// The page's worker passes onnxruntime-web, the Node example onnxruntime-node: both have
// the same InferenceSession / Tensor API.
//
// What it does as Python does (8-bit RGB / RGBA images):
//   - cells of `tile` input pixels (default max(tile_hint, 512), balanced), each run in a
//     window with `overlap` = max(4, ceil(receptive_field / 2) + 1) pixels of context;
//   - at the image's edges the context is the image mirrored ("symmetric": the edge pixel
//     repeated, then its neighbours) for `border` = overlap pixels;
//   - each output channel clamped to the range that channel holds over the input pixels
//     within max(2, receptive_field // 2) (sronnx.runtime.local_range);
//   - alpha: colour premultiplied by alpha before the model, alpha upscaled bicubically
//     (Keys, a = -0.75, edges clamped), colour divided back by it after;
//   - rounding to 8 bits with +0.5 and clipping, in float32 as numpy does.
// What it does not: greyscale as its own kind (a grey image runs as RGB), 16-bit images,
// fixed-size models, size rules (minimum / multiple_of / square) and fixed batches, uint8 or
// float16 tensors. Those models are refused by `Upscaler.create` with a message.

export const METADATA_KEY = 'sronnx.descriptor';

// Defaults of sronnx.descriptor.ModelDescriptor for a file without the key (a model made
// elsewhere: scale is then unknown and must be given).
export const DESCRIPTOR_DEFAULTS = Object.freeze({
  arch: 'unknown', scale: 0, in_channels: 3, out_channels: 3, value_range: [0, 1],
  size_requirement: 'any', fixed_size: null, receptive_field: 1, tile_hint: 256,
  tile_multiple: 1, size: { minimum: 1, multiple_of: 1, square: false }, layout: 'NCHW',
  channel_order: 'RGB', element_type: 'float32', batch: 0,
});

const DEFAULT_TILE = 512; // sronnx.runtime.upscaler.DEFAULT_TILE

// ---- protobuf: just enough of onnx.ModelProto to read metadata_props (field 14) ----------

function readVarint(buf, pos) {
  let value = 0;
  let mult = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('not an ONNX file: a varint runs past the end');
    const b = buf[pos++];
    value += (b & 0x7f) * mult; // arithmetic, not shifts: lengths may pass 2**31
    if (b < 0x80) return [value, pos];
    mult *= 128;
    if (mult > 2 ** 63) throw new Error('not an ONNX file: a varint is too long');
  }
}

// Calls visit(field, wireType, valueOrBytes) for each top-level field of a message.
function walkFields(buf, visit) {
  let pos = 0;
  while (pos < buf.length) {
    let tag;
    [tag, pos] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) {
      let v;
      [v, pos] = readVarint(buf, pos);
      visit(field, wire, v);
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
    } else if (wire === 2) {
      let len;
      [len, pos] = readVarint(buf, pos);
      if (pos + len > buf.length) throw new Error('not an ONNX file: a field runs past the end');
      visit(field, wire, buf.subarray(pos, pos + len));
      pos += len;
    } else {
      throw new Error(`not an ONNX file: wire type ${wire} at byte ${pos}`);
    }
    if (field === 0) throw new Error('not an ONNX file: field number 0');
  }
}

/** The ONNX file's metadata_props as a plain object {key: value}. */
export function readMetadata(bytes) {
  const buf = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const text = new TextDecoder();
  const props = {};
  walkFields(buf, (field, wire, value) => {
    if (field !== 14 || wire !== 2) return;
    let key = '';
    let val = '';
    walkFields(value, (f, w, v) => {
      if (w !== 2) return;
      if (f === 1) key = text.decode(v);
      else if (f === 2) val = text.decode(v);
    });
    props[key] = val;
  });
  return props;
}

/** The model's descriptor (sronnx.descriptor JSON in the metadata) with defaults for what it
 * leaves out; `found` says whether the file had one. */
export function readDescriptor(bytes) {
  const raw = readMetadata(bytes)[METADATA_KEY];
  const d = { ...DESCRIPTOR_DEFAULTS, size: { ...DESCRIPTOR_DEFAULTS.size }, found: false };
  if (raw === undefined) return d;
  const parsed = JSON.parse(raw);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error('the sronnx.descriptor metadata is not a JSON object');
  }
  for (const [k, v] of Object.entries(parsed)) {
    if (k === 'size' && v && typeof v === 'object') Object.assign(d.size, v);
    else if (k in DESCRIPTOR_DEFAULTS) d[k] = v;
  }
  d.found = true;
  return d;
}

/** Why this kit cannot run the model, or null when it can. */
export function unsupported(d) {
  if (!(Number.isInteger(d.scale) && d.scale >= 1)) {
    return 'the model file has no sronnx descriptor with its scale (run sronnx describe on it)';
  }
  if (d.fixed_size) return 'fixed-size models are not supported here (Python runs them)';
  const s = d.size || {};
  if ((s.minimum ?? 1) > 1 || (s.multiple_of ?? 1) !== 1 || s.square) {
    return 'models with a size rule are not supported here (Python pads for them)';
  }
  if (d.batch && d.batch !== 1) return `a fixed batch of ${d.batch} is not supported here`;
  if (d.in_channels !== 3 || d.out_channels !== 3) {
    return `${d.in_channels} -> ${d.out_channels} channel models are not supported here (RGB only)`;
  }
  if (d.element_type !== 'float32') return `${d.element_type} tensors are not supported here`;
  if (!['NCHW', 'NHWC'].includes(d.layout)) return `layout ${d.layout} is not supported`;
  if (!['RGB', 'BGR'].includes(d.channel_order)) return `channel order ${d.channel_order}?`;
  return null;
}

// ---- tiling: sronnx.runtime.tiling ---------------------------------------------------------

/** Input pixels of context on each side of a tile (upscaler.default_overlap). */
export function defaultOverlap(d) {
  return Math.max(4, Math.ceil(d.receptive_field / 2) + 1);
}

/** Radius of the local range clamp (local_range.clamp_radius). */
export function clampRadius(receptiveField) {
  return Math.max(2, Math.floor(receptiveField / 2));
}

/** Spans {ws, we, cs, ce} (window start/stop, cell start/stop) along one axis, as
 * tiling.plan_axis without a fixed window. */
export function planAxis(length, tile, overlap, multiple = 1, border = 0) {
  if (length < 1) throw new Error('cannot tile an empty axis');
  const m = multiple;
  border = Math.ceil(border / m) * m;
  const lo = -border;
  const hi = length + border;
  const ov = Math.ceil(overlap / m) * m;
  let core = Math.max(Math.floor(tile / m) * m, m);
  const cells = Math.ceil(length / core);
  core = Math.min(core, Math.ceil(Math.ceil(length / cells) / m) * m);
  const win = core + 2 * ov;
  if (win >= hi - lo) return [{ ws: lo, we: hi, cs: 0, ce: length }];
  const spans = [];
  for (let start = 0; start < length; start += core) {
    const stop = Math.min(start + core, length);
    let ws = Math.max(start - ov, lo);
    let we = ws + win;
    if (we > hi) {
      we = hi;
      ws = Math.max(Math.floor((hi - win) / m) * m, lo);
    }
    let cs = start;
    const last = spans[spans.length - 1];
    if (last && last.ws === ws && last.we === we) cs = spans.pop().cs;
    spans.push({ ws, we, cs, ce: stop });
  }
  return spans;
}

/** numpy's "symmetric" padding as an index map: i outside 0..n-1 reads its mirror. */
export function mirror(i, n) {
  const p = 2 * n;
  const k = ((i % p) + p) % p;
  return k < n ? k : p - 1 - k;
}

// ---- float32 arithmetic as numpy does it ----------------------------------------------------

const f32 = Math.fround;
const INV255 = f32(1 / 255);
const F255 = f32(255);

/** A float32 value in [0, 1] (nominally) -> 0..255 as upscaler._quantize: v * 255 + 0.5 in
 * float32, clipped, truncated. */
function quantize(v) {
  const q = f32(f32(v * F255) + 0.5);
  return q <= 0 ? 0 : q >= 255 ? 255 : Math.floor(q);
}

function keys(x, a = -0.75) {
  x = Math.abs(x);
  if (x <= 1) return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1;
  if (x < 2) return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a;
  return 0;
}

/** (scale x 5) float32 kernels: phase p of source pixel q reads q-2 .. q+2
 * (interpolation.bicubic_phase_kernels). */
export function bicubicPhaseKernels(scale) {
  const rows = [];
  for (let p = 0; p < scale; p++) {
    const row = [0, 0, 0, 0, 0];
    const t = (p + 0.5) / scale - 0.5;
    const base = Math.floor(t);
    const frac = t - base;
    [frac + 1, frac, 1 - frac, 2 - frac].forEach((x, i) => { row[base + i - 1 + 2] += keys(x); });
    rows.push(row.map(f32));
  }
  return rows;
}

/** Upscaled alpha in [0, 1] for one cell (rows r0..r1, columns c0..c1 of the input), from
 * the whole alpha plane with its edges clamped: pil_modes.alpha_cell, float32 step by step. */
function alphaCell(alpha, width, height, r0, r1, c0, c1, s, k) {
  const ch = r1 - r0;
  const cw = c1 - c0;
  const mw = cw + 4; // the cell's columns plus 2 each side
  const clampX = (x) => (x < 0 ? 0 : x >= width ? width - 1 : x);
  const clampY = (y) => (y < 0 ? 0 : y >= height ? height - 1 : y);
  const rows = new Float32Array(ch * s * mw);
  for (let q = 0; q < ch; q++) {
    for (let ph = 0; ph < s; ph++) {
      const kk = k[ph];
      const dst = (q * s + ph) * mw;
      for (let j = 0; j < mw; j++) {
        const x = clampX(c0 - 2 + j);
        let acc = 0;
        for (let t = 0; t < 5; t++) {
          const a = f32(alpha[clampY(r0 + q - 2 + t) * width + x] * INV255);
          acc = f32(acc + f32(kk[t] * a));
        }
        rows[dst + j] = acc;
      }
    }
  }
  const out = new Float32Array(ch * s * cw * s);
  for (let y = 0; y < ch * s; y++) {
    for (let q = 0; q < cw; q++) {
      for (let ph = 0; ph < s; ph++) {
        const kk = k[ph];
        let acc = 0;
        for (let t = 0; t < 5; t++) acc = f32(acc + f32(kk[t] * rows[y * mw + q + t]));
        out[y * cw * s + q * s + ph] = acc < 0 ? 0 : acc > 1 ? 1 : acc;
      }
    }
  }
  return out;
}

/** (lo, hi) of each channel of `win` (C x h x w uint8) over the square of `radius` around
 * every pixel of the cell (rows r0..r0+rn, columns c0..c0+cn, window coordinates), clipped
 * to the window: local_range.local_range. With `hideColour` the colour channels of pixels
 * whose alpha (the last channel) is 0 count for nothing; a square with nothing left is
 * 0..255. */
function localRange(win, C, h, w, radius, r0, rn, c0, cn, hideColour) {
  const lo = new Uint8Array(C * rn * cn);
  const hi = new Uint8Array(C * rn * cn);
  const y0 = Math.max(0, r0 - radius);
  const y1 = Math.min(h, r0 + rn + radius);
  const tmpLo = new Uint8Array((y1 - y0) * cn);
  const tmpHi = new Uint8Array((y1 - y0) * cn);
  const alphaPlane = (C - 1) * h * w;
  for (let c = 0; c < C; c++) {
    const plane = c * h * w;
    const hide = hideColour && c < C - 1;
    for (let y = y0; y < y1; y++) {
      const row = plane + y * w;
      const arow = alphaPlane + y * w;
      for (let x = 0; x < cn; x++) {
        const xc = c0 + x;
        const xa = Math.max(0, xc - radius);
        const xb = Math.min(w - 1, xc + radius);
        let mn = 255;
        let mx = 0;
        for (let i = xa; i <= xb; i++) {
          if (hide && win[arow + i] === 0) continue;
          const v = win[row + i];
          if (v < mn) mn = v;
          if (v > mx) mx = v;
        }
        tmpLo[(y - y0) * cn + x] = mn;
        tmpHi[(y - y0) * cn + x] = mx;
      }
    }
    for (let y = 0; y < rn; y++) {
      const yc = r0 + y;
      const ya = Math.max(y0, yc - radius) - y0;
      const yb = Math.min(y1 - 1, yc + radius) - y0;
      for (let x = 0; x < cn; x++) {
        let mn = 255;
        let mx = 0;
        for (let i = ya; i <= yb; i++) {
          const a = tmpLo[i * cn + x];
          const b = tmpHi[i * cn + x];
          if (a < mn) mn = a;
          if (b > mx) mx = b;
        }
        if (mn > mx) { mn = 0; mx = 255; } // nothing visible around: no constraint
        lo[(c * rn + y) * cn + x] = mn;
        hi[(c * rn + y) * cn + x] = mx;
      }
    }
  }
  return [lo, hi];
}

// ---- the upscaler ---------------------------------------------------------------------------

/** The execution provider `sessionOptions` asks for first ('webgpu', 'wasm', ...), 'cpu'
 * when it names none. */
export function backendOf(sessionOptions) {
  const eps = sessionOptions?.executionProviders;
  if (!eps || eps.length === 0) return 'cpu';
  return typeof eps[0] === 'string' ? eps[0] : String(eps[0].name);
}

/** Rough peak memory (bytes) of the demo page upscaling a width x height RGBA image `scale`
 * times, besides the browser's own: the input three times (the page's pixels, its canvas,
 * the worker's copy), the PNG written as the rows come (photos compress to about half the
 * RGBA size), one band of output rows (a row of 512-pixel tiles), a preview of at most 16 MP
 * drawn twice, and 256 MB for the runtime and the tile in flight. */
export function estimateBytes(width, height, scale) {
  const input = width * height * 4;
  const output = input * scale * scale;
  const band = Math.min(output, 512 * scale * width * scale * 4);
  const preview = Math.min(output, 16e6 * 4);
  return 3 * input + output * 0.5 + band + 2 * preview + 256 * 2 ** 20;
}

/** True when some pixel of RGBA `data` is not fully opaque. */
export function hasAlpha(data) {
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 255) return true;
  return false;
}

export class Upscaler {
  /** Use `Upscaler.create`. */
  constructor(ort, session, descriptor, options = {}) {
    this.ort = ort;
    this.session = session;
    this.descriptor = descriptor;
    const d = descriptor;
    this.scale = d.scale;
    this.tile = options.tile ?? Math.max(d.tile_hint, DEFAULT_TILE);
    this.overlap = options.overlap ?? defaultOverlap(d);
    this.border = options.border ?? this.overlap;
    this.clampRadius = options.clampRange === false ? null : clampRadius(d.receptive_field);
    this.inputName = session.inputNames[0];
    this.outputName = session.outputNames[0];
    this.backend = options.backend ?? backendOf(options.sessionOptions);
  }

  /** The tiles of a width x height image: {tiles, windowPixels} (input pixels the model
   * reads, context included: what its time grows with). */
  plan(width, height) {
    const m = this.descriptor.tile_multiple || 1;
    const rows = planAxis(height, this.tile, this.overlap, m, this.border);
    const cols = planAxis(width, this.tile, this.overlap, m, this.border);
    const sum = (spans) => spans.reduce((a, sp) => a + sp.we - sp.ws, 0);
    return { tiles: rows.length * cols.length, windowPixels: sum(rows) * sum(cols) };
  }

  /** An upscaler for the ONNX file in `modelBytes` (ArrayBuffer or Uint8Array), run by `ort`
   * (onnxruntime-web or onnxruntime-node). options: tile, overlap, border, clampRange
   * (default true), sessionOptions (passed to InferenceSession.create), backend (the name
   * `backend` and each result report; default the first of sessionOptions.executionProviders,
   * 'cpu' when none is given: onnxruntime's default). */
  static async create(ort, modelBytes, options = {}) {
    const bytes = modelBytes instanceof Uint8Array ? modelBytes : new Uint8Array(modelBytes);
    const d = readDescriptor(bytes);
    const why = unsupported(d);
    if (why) throw new Error(why);
    const session = await ort.InferenceSession.create(bytes, options.sessionOptions ?? {});
    return new Upscaler(ort, session, d, options);
  }

  /** float32 3 x h x w RGB in [0, 1] -> the model's tensor form, one run, -> float32
   * 3 x sh x sw RGB (nominally [0, 1]). */
  async run(x, h, w) {
    const d = this.descriptor;
    const [lo, hi] = d.value_range;
    const bgr = d.channel_order === 'BGR';
    const nhwc = d.layout === 'NHWC';
    const n = h * w;
    let data = x;
    if (bgr || nhwc || lo !== 0 || hi !== 1) {
      data = new Float32Array(3 * n);
      for (let c = 0; c < 3; c++) {
        const src = (bgr ? 2 - c : c) * n;
        for (let i = 0; i < n; i++) {
          data[nhwc ? i * 3 + c : c * n + i] = lo + x[src + i] * (hi - lo);
        }
      }
    }
    const dims = nhwc ? [1, h, w, 3] : [1, 3, h, w];
    const feeds = { [this.inputName]: new this.ort.Tensor('float32', data, dims) };
    const result = await this.session.run(feeds);
    const y = result[this.outputName];
    const s = this.scale;
    const want = nhwc ? [1, h * s, w * s, 3] : [1, 3, h * s, w * s];
    if (y.dims.length !== 4 || y.dims.some((v, i) => v !== want[i])) {
      throw new Error(`model returned [${y.dims}] for a tile, expected [${want}]`);
    }
    let out = y.data;
    if (y.type !== 'float32') throw new Error(`model returned ${y.type}, expected float32`);
    if (bgr || nhwc || lo !== 0 || hi !== 1) {
      const m = n * s * s;
      out = new Float32Array(3 * m);
      for (let c = 0; c < 3; c++) {
        const dst = (bgr ? 2 - c : c) * m;
        for (let i = 0; i < m; i++) {
          out[dst + i] = f32((y.data[nhwc ? i * 3 + c : c * m + i] - lo) / (hi - lo));
        }
      }
    }
    if (typeof y.dispose === 'function' && out !== y.data) y.dispose();
    return out;
  }

  /** `image`: {width, height, data} with RGBA 8-bit data (an ImageData, or pngjs's PNG) ->
   * {width, height, data: Uint8ClampedArray RGBA, backend}, `scale` times larger (backend:
   * the execution provider the session was made for, as `this.backend`). Fully opaque images
   * come back opaque; others go through the alpha path. onProgress(done, total, {tile,
   * tiles, phase}) in output pixels: with phase 'model' (done not yet counting the tile)
   * just before tile number `tile` (1-based) of `tiles` goes into the model, so a caller can
   * show that a long single tile is under way, and with phase 'tile' once its pixels are
   * written. With onRows({y0, y1, data}) the output is handed over a row of tiles at a time
   * (output rows y0..y1, RGBA, top to bottom) and awaited, the result's data is null, and
   * only one such band is ever held (its buffer is reused once onRows resolves: copy what
   * you keep), so a PNG can be written while the image is upscaled without the full-size
   * output in memory. */
  async upscale(image, { onProgress, onRows } = {}) {
    const { width: W, height: H, data } = image;
    if (!(W >= 1 && H >= 1)) throw new Error(`empty image ${W}x${H}`);
    if (data.length !== W * H * 4) throw new Error('expected RGBA data of width x height x 4');
    const s = this.scale;
    const alpha = hasAlpha(data);
    const C = alpha ? 4 : 3;
    const multiple = this.descriptor.tile_multiple || 1;
    const rows = planAxis(H, this.tile, this.overlap, multiple, this.border);
    const cols = planAxis(W, this.tile, this.overlap, multiple, this.border);
    const OW = W * s;
    // with onRows, one band of output rows (a row of tiles) at a time, reused; else the image
    const bandRows = Math.max(...rows.map((r) => r.ce - r.cs)) * s;
    let out = new Uint8ClampedArray(OW * (onRows ? bandRows : H * s) * 4);
    const total = OW * H * s;
    let done = 0;
    let alphaPlane = null;
    let kernels = null;
    if (alpha) {
      alphaPlane = new Uint8Array(W * H);
      for (let i = 0; i < W * H; i++) alphaPlane[i] = data[i * 4 + 3];
      kernels = bicubicPhaseKernels(s);
    }
    // unpremultiply's threshold as numpy applies it: `alpha > 0.5 / peak` compares a float32
    // array with a Python float in float32 (NumPy 2), so the bound is float32(0.5 / 255). A
    // double bound differs from it exactly where bicubic alpha is float32(0.5 / 255) (x3
    // models around alpha 1/255): there the colour would be divided by ~0.002 instead of 1.
    const eps = f32(0.5 / 255);
    let index = 0;
    for (const r of rows) {
      const top = onRows ? r.cs * s : 0; // the output row at out's start
      for (const c of cols) {
        index++;
        const wh = r.we - r.ws;
        const ww = c.we - c.ws;
        const n = wh * ww;
        // the window, mirrored at the edges: uint8 C x wh x ww, and the model's input
        const win = new Uint8Array(C * n);
        const x = new Float32Array(3 * n);
        for (let y = 0; y < wh; y++) {
          const sy = mirror(r.ws + y, H);
          for (let xx = 0; xx < ww; xx++) {
            const src = (sy * W + mirror(c.ws + xx, W)) * 4;
            const i = y * ww + xx;
            const a = alpha ? f32(data[src + 3] * INV255) : 1;
            for (let ch = 0; ch < 3; ch++) {
              const v = data[src + ch];
              win[ch * n + i] = v;
              x[ch * n + i] = alpha ? f32(f32(v * INV255) * a) : f32(v * INV255);
            }
            if (alpha) win[3 * n + i] = data[src + 3];
          }
        }
        let y;
        if (onProgress) onProgress(done, total, { tile: index, tiles: rows.length * cols.length, phase: 'model' });
        try {
          y = await this.run(x, wh, ww);
        } catch (err) {
          throw new Error(`tile ${index} of ${rows.length * cols.length} failed: ${err.message ?? err}`);
        }
        const rn = r.ce - r.cs;
        const cn = c.ce - c.cs;
        const r0 = r.cs - r.ws;
        const c0 = c.cs - c.ws;
        let lo = null;
        let hi = null;
        if (this.clampRadius !== null) {
          [lo, hi] = localRange(win, C, wh, ww, this.clampRadius, r0, rn, c0, cn, alpha);
        }
        const aUp = alpha ? alphaCell(alphaPlane, W, H, r.cs, r.ce, c.cs, c.ce, s, kernels) : null;
        const m = wh * s * ww * s;
        const yw = ww * s;
        for (let oy = 0; oy < rn * s; oy++) {
          const iy = Math.floor(oy / s);
          const srcRow = (r0 * s + oy) * yw + c0 * s;
          const dstRow = ((r.cs * s + oy - top) * OW + c.cs * s) * 4;
          for (let ox = 0; ox < cn * s; ox++) {
            const b = iy * cn + Math.floor(ox / s); // the input pixel's bounds
            const dst = dstRow + ox * 4;
            let safe = 1;
            let av = 1;
            if (alpha) {
              av = aUp[oy * cn * s + ox];
              safe = av > eps ? av : 1;
            }
            for (let ch = 0; ch < 3; ch++) {
              let v = y[ch * m + srcRow + ox];
              if (alpha) {
                v = f32(v / safe);
                v = v < 0 ? 0 : v > 1 ? 1 : v;
              }
              let q = quantize(v);
              if (lo !== null) {
                const k = ch * rn * cn + b;
                if (q < lo[k]) q = lo[k];
                if (q > hi[k]) q = hi[k];
              }
              out[dst + ch] = q;
            }
            let qa = 255;
            if (alpha) {
              qa = quantize(av);
              if (lo !== null) {
                const k = 3 * rn * cn + b;
                if (qa < lo[k]) qa = lo[k];
                if (qa > hi[k]) qa = hi[k];
              }
            }
            out[dst + 3] = qa;
          }
        }
        done += rn * cn * s * s;
        if (onProgress) onProgress(done, total, { tile: index, tiles: rows.length * cols.length, phase: 'tile' });
      }
      if (onRows) await onRows({ y0: r.cs * s, y1: r.ce * s, data: out.subarray(0, (r.ce - r.cs) * s * OW * 4) });
    }
    if (onRows) out = null;
    return { width: OW, height: H * s, data: out, backend: this.backend };
  }
}
