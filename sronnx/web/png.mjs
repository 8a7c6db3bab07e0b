// 8-bit PNG reading and writing without a canvas. A 2D canvas keeps its pixels premultiplied
// by alpha, which rounds (or, at alpha 0, loses) the colour of translucent pixels on the way
// in (getImageData) and on the way out (toBlob): the page reads and writes PNGs with alpha
// here instead, so an RGBA PNG is upscaled from, and saved as, its exact values.
// zlib comes from the browser (CompressionStream / DecompressionStream "deflate").

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const CHANNELS = { 0: 1, 2: 3, 4: 2, 6: 4 }; // grey, RGB, grey + alpha, RGBA

let crcTable = null;
function crc32(bytes, crc = 0xffffffff) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc;
}

async function through(bytes, stream) {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer());
}

/** An 8-bit, non-interlaced grey / RGB / grey+alpha / RGBA PNG (ArrayBuffer) as
 * {width, height, data: Uint8ClampedArray RGBA}; null for any other PNG (16-bit, palette,
 * interlaced, a colour key: the caller decodes those another way) or a file that is not a
 * PNG. Colour chunks (gAMA, iCCP) are ignored: the values are taken as they are. */
export async function decodePNG(buffer) {
  const buf = new Uint8Array(buffer);
  if (buf.length < 8 || SIGNATURE.some((b, i) => buf[i] !== b)) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 8;
  let header = null;
  const idat = [];
  while (pos + 8 <= buf.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...buf.subarray(pos + 4, pos + 8));
    const body = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      header = { width: view.getUint32(pos + 8), height: view.getUint32(pos + 12),
                 depth: body[8], colour: body[9], interlace: body[12] };
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'tRNS' || type === 'PLTE') return null;
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  if (!header || header.depth !== 8 || header.interlace !== 0 || !(header.colour in CHANNELS)) {
    return null;
  }
  const { width: w, height: h } = header;
  const ch = CHANNELS[header.colour];
  const raw = await through(new Blob(idat), new DecompressionStream('deflate'));
  const stride = w * ch;
  if (raw.length < h * (stride + 1)) throw new Error('PNG image data is cut short');
  const px = new Uint8Array(h * stride);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= ch ? px[row + i - ch] : 0;
      const b = y > 0 ? px[row - stride + i] : 0;
      const c = i >= ch && y > 0 ? px[row - stride + i - ch] : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = b;
      else if (f === 3) pred = (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (f !== 0) throw new Error(`PNG filter ${f} is not one of 0..4`);
      px[row + i] = (raw[src + i] + pred) & 0xff;
    }
  }
  const data = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const s = i * ch;
    const grey = ch <= 2;
    data[i * 4] = px[s];
    data[i * 4 + 1] = grey ? px[s] : px[s + 1];
    data[i * 4 + 2] = grey ? px[s] : px[s + 2];
    data[i * 4 + 3] = ch === 2 ? px[s + 1] : ch === 4 ? px[s + 3] : 255;
  }
  return { width: w, height: h, data };
}

function chunk(type, body) {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, (crc32(out.subarray(4, 8 + body.length)) ^ 0xffffffff) >>> 0);
  return out;
}

const IDAT_BYTES = 1 << 20; // compressed bytes gathered into one IDAT chunk
const BAND_BYTES = 4 << 20; // filtered rows handed to the compressor at a time

function concat(parts, length) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Rows y0..y1 of RGBA `data` (width w), Sub-filtered with `ch` channels (3 drops alpha). */
function filterRows(data, w, y0, y1, ch) {
  const stride = w * ch;
  const raw = new Uint8Array((y1 - y0) * (stride + 1));
  for (let y = y0; y < y1; y++) {
    const dst = (y - y0) * (stride + 1);
    raw[dst] = 1; // Sub
    const row = y * w * 4;
    for (let c = 0; c < ch; c++) raw[dst + 1 + c] = data[row + c];
    for (let x = 1; x < w; x++) {
      const s = row + x * 4;
      const d = dst + 1 + x * ch;
      for (let c = 0; c < ch; c++) raw[d + c] = (data[s + c] - data[s - 4 + c]) & 0xff;
    }
  }
  return raw;
}

/** A PNG written band by band: `new PNGStream(width, height, alpha)`, then `write(rgba)`
 * with the next whole rows (RGBA, width x n x 4, top to bottom) as often as needed, then
 * `finish()` -> the Blob (RGBA when `alpha`, else RGB). Rows are Sub-filtered (a good default
 * for photos) and handed to the browser's deflate in bands of about 4 MB; the compressed
 * bytes come out as IDAT chunks of about 1 MB. Only the compressed file is kept: no
 * full-size copy of the image is made. */
export class PNGStream {
  constructor(width, height, alpha) {
    this.width = width;
    this.height = height;
    this.channels = alpha ? 4 : 3;
    this.rows = 0;
    const ihdr = new Uint8Array(13);
    const hv = new DataView(ihdr.buffer);
    hv.setUint32(0, width);
    hv.setUint32(4, height);
    ihdr.set([8, alpha ? 6 : 2, 0, 0, 0], 8);
    this.parts = [new Uint8Array(SIGNATURE), chunk('IHDR', ihdr)];
    const stream = new CompressionStream('deflate');
    this.writer = stream.writable.getWriter();
    this.reading = (async () => {
      const reader = stream.readable.getReader();
      let pending = [];
      let size = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (value && value.length) { pending.push(value); size += value.length; }
        if ((done && size) || size >= IDAT_BYTES) {
          this.parts.push(chunk('IDAT', concat(pending, size)));
          pending = [];
          size = 0;
        }
        if (done) return;
      }
    })();
  }

  /** The next rows: RGBA `data` holding a whole number of rows of `width` pixels. */
  async write(data) {
    const w = this.width;
    const n = data.length / (w * 4);
    if (!Number.isInteger(n) || this.rows + n > this.height) {
      throw new Error(`PNGStream: ${data.length} bytes are not whole rows within the image`);
    }
    const band = Math.max(1, Math.floor(BAND_BYTES / (w * this.channels + 1)));
    for (let y = 0; y < n; y += band) {
      await this.writer.ready;
      await this.writer.write(filterRows(data, w, y, Math.min(n, y + band), this.channels));
    }
    this.rows += n;
  }

  /** The PNG file, once every row was written. */
  async finish() {
    if (this.rows !== this.height) throw new Error(`PNGStream: ${this.rows} of ${this.height} rows written`);
    await this.writer.close();
    await this.reading;
    this.parts.push(chunk('IEND', new Uint8Array(0)));
    return new Blob(this.parts, { type: 'image/png' });
  }
}

/** {width, height, data: RGBA} -> a PNG Blob: RGBA when some pixel is not opaque, else RGB,
 * through PNGStream (no full-size copy). onProgress(rowsDone, height) after each band. */
export async function encodePNGChunked({ width: w, height: h, data }, onProgress) {
  let opaque = true;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 255) { opaque = false; break; }
  const png = new PNGStream(w, h, !opaque);
  const band = Math.max(1, Math.floor(BAND_BYTES / (w * 4)));
  for (let y = 0; y < h; y += band) {
    const y1 = Math.min(h, y + band);
    await png.write(data.subarray(y * w * 4, y1 * w * 4));
    if (onProgress) onProgress(y1, h);
  }
  return png.finish();
}

/** As encodePNGChunked, without progress. */
export function encodePNG(image) {
  return encodePNGChunked(image);
}
