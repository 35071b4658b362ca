/**
 * Safetensors reader and writer, framework-free (plain Float32Arrays).
 *
 * Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * `{ "__metadata__"?: {string: string}, "<name>": { dtype, shape, data_offsets: [begin, end] } }`,
 * then the data section; offsets are relative to its start.
 *
 * The reader validates the whole header before touching any tensor data, and like the reference
 * implementation (huggingface/safetensors) it requires the tensors, sorted by offset, to be
 * contiguous and to cover the data section exactly: no gaps (hidden bytes), no overlaps, no
 * trailing bytes. Every failure is a `SafetensorsError` with a reason.
 */
import { f16ToF32, f32ToBf16, f32ToF16 } from './safetensors-half.js';

/**
 * dtypes Lethe reads; F16, BF16 and U8 are widened to float32 (U8: the byte values 0–255, for
 * packed quantisation codes such as the ICM basis generator's; written from integral values only).
 */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'U8';

/** A tensor as read (always float32 data) or to be written (stored as `dtype`, default F32). */
export interface SafetensorsTensor {
  shape: number[];
  data: Float32Array;
  /** On read: the dtype stored in the file. On write: the dtype to store (default F32). */
  dtype?: SafetensorsDtype;
}

export interface SafetensorsFile {
  /** Tensors by name, in the order of their offsets in the file. */
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

export interface SafetensorsLimits {
  /** Largest accepted JSON header, bytes (reference implementation: 100 MB). */
  maxHeaderBytes?: number;
  /** Most tensors accepted in one file. */
  maxTensors?: number;
  /** Largest rank accepted. */
  maxRank?: number;
  /** dtypes accepted (default the float ones: F32, F16, BF16; U8 only where a caller asks for it). */
  dtypes?: readonly SafetensorsDtype[];
}

/** A malformed or unsupported safetensors file; `reason` says what is wrong. */
export class SafetensorsError extends Error {
  constructor(readonly reason: string) {
    super(`invalid safetensors: ${reason}`);
    this.name = 'SafetensorsError';
  }
}

const ITEM_SIZE: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, U8: 1 };
// Valid safetensors dtypes Lethe does not read: named in the error instead of "unknown".
const KNOWN_UNSUPPORTED = new Set([
  'F64', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'BOOL', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3',
  'F6_E3M2', 'F4', 'C64',
]);
const DEFAULT_LIMITS: Required<SafetensorsLimits> = {
  maxHeaderBytes: 100 * 1024 * 1024,
  maxTensors: 100_000,
  maxRank: 8,
  dtypes: ['F32', 'F16', 'BF16'],
};
const METADATA_KEY = '__metadata__';
const ENTRY_KEYS = ['data_offsets', 'dtype', 'shape'];
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Checks a tensor name: 1..1024 visible ASCII characters (no spaces, controls or non-ASCII). */
export function isSaneTensorName(name: string): boolean {
  return /^[\x21-\x7e]{1,1024}$/.test(name) && name !== METADATA_KEY;
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and validates a safetensors file. Throws `SafetensorsError` on any defect. */
export function parseSafetensors(bytes: Uint8Array, limits: SafetensorsLimits = {}): SafetensorsFile {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  if (bytes.length < 8) throw new SafetensorsError(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) {
    throw new SafetensorsError(`header length ${n64} exceeds the ${bytes.length - 8} bytes after it`);
  }
  const n = Number(n64);
  if (n > lim.maxHeaderBytes) throw new SafetensorsError(`header length ${n} exceeds the cap of ${lim.maxHeaderBytes}`);
  if (n < 2) throw new SafetensorsError(`header length ${n} is too short for a JSON object`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new SafetensorsError('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new SafetensorsError('header does not start with "{"');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw new SafetensorsError(`header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(header)) throw new SafetensorsError('header is not a JSON object');
  const dataLength = bytes.length - 8 - n;
  const { entries, metadata } = validateHeader(header, dataLength, lim);

  const dataStart = 8 + n;
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { shape: e.shape, dtype: e.dtype, data: decode(raw, e.dtype) });
  }
  return { tensors, metadata };
}

function validateHeader(
  header: Record<string, unknown>,
  dataLength: number,
  lim: Required<SafetensorsLimits>,
): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  const meta: [string, string][] = [];
  const entries: HeaderEntry[] = [];
  const names = Object.keys(header);
  if (names.length > lim.maxTensors + 1) throw new SafetensorsError(`more than ${lim.maxTensors} tensors`);
  for (const name of names) {
    const value = header[name];
    if (name === METADATA_KEY) {
      if (!isPlainObject(value)) throw new SafetensorsError('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw new SafetensorsError(`__metadata__["${clip(k)}"] is not a string`);
        meta.push([k, v]);
      }
      continue;
    }
    entries.push(validateEntry(name, value, dataLength, lim));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of entries) {
    if (e.begin < cursor) throw new SafetensorsError(`tensor "${e.name}" overlaps the previous tensor`);
    if (e.begin > cursor) throw new SafetensorsError(`gap of ${e.begin - cursor} bytes before tensor "${e.name}"`);
    cursor = e.end;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsError(`tensors cover ${cursor} bytes but the data section has ${dataLength}`);
  }
  // fromEntries defines own properties, so a "__proto__" key stays plain data.
  return { entries, metadata: Object.fromEntries(meta) };
}

function validateEntry(name: string, value: unknown, dataLength: number, lim: Required<SafetensorsLimits>): HeaderEntry {
  if (!isSaneTensorName(name)) throw new SafetensorsError(`tensor name "${clip(name)}" is not allowed`);
  if (!isPlainObject(value)) throw new SafetensorsError(`tensor "${name}" is not an object`);
  const keys = Object.keys(value).sort();
  if (keys.join() !== ENTRY_KEYS.join()) {
    throw new SafetensorsError(`tensor "${name}" must have exactly dtype, shape, data_offsets (has ${clip(keys.join(', '))})`);
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') throw new SafetensorsError(`tensor "${name}" dtype is not a string`);
  if (!Object.hasOwn(ITEM_SIZE, dtype) || !lim.dtypes.includes(dtype as SafetensorsDtype)) {
    const what = KNOWN_UNSUPPORTED.has(dtype) || Object.hasOwn(ITEM_SIZE, dtype) ? 'unsupported' : 'unknown';
    throw new SafetensorsError(`tensor "${name}" has ${what} dtype ${clip(dtype)} (supported: ${lim.dtypes.join(', ')})`);
  }
  if (!Array.isArray(shape)) throw new SafetensorsError(`tensor "${name}" shape is not an array`);
  if (shape.length > lim.maxRank) throw new SafetensorsError(`tensor "${name}" rank ${shape.length} exceeds ${lim.maxRank}`);
  const itemSize = ITEM_SIZE[dtype as SafetensorsDtype];
  let bytesNeeded = itemSize;
  for (const d of shape) {
    if (!isNonNegativeSafeInt(d)) throw new SafetensorsError(`tensor "${name}" shape entry ${clip(String(d))} is not a non-negative integer`);
    bytesNeeded *= d;
    // Stop early: a product past the data length can only fail, and could lose precision.
    if (bytesNeeded > dataLength) {
      throw new SafetensorsError(`tensor "${name}" shape [${clip(shape.join(','))}] needs more bytes than the data section holds`);
    }
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) throw new SafetensorsError(`tensor "${name}" data_offsets is not [begin, end]`);
  const [begin, end] = offsets as unknown[];
  if (!isNonNegativeSafeInt(begin) || !isNonNegativeSafeInt(end)) {
    throw new SafetensorsError(`tensor "${name}" data_offsets are not non-negative integers`);
  }
  if (begin > end) throw new SafetensorsError(`tensor "${name}" data_offsets begin ${begin} > end ${end}`);
  if (end > dataLength) throw new SafetensorsError(`tensor "${name}" ends at ${end}, past the ${dataLength}-byte data section`);
  if (end - begin !== bytesNeeded) {
    throw new SafetensorsError(`tensor "${name}" has ${end - begin} bytes but ${dtype} [${shape.join(',')}] needs ${bytesNeeded}`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

function decode(raw: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  if (dtype === 'F32') {
    // Copy through Uint8Array's own slice: a Node Buffer's slice() is a view of the whole file.
    if (LITTLE_ENDIAN_HOST) return new Float32Array(Uint8Array.prototype.slice.call(raw).buffer);
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Float32Array.from({ length: raw.length / 4 }, (_, i) => v.getFloat32(4 * i, true));
  }
  if (dtype === 'U8') return Float32Array.from(raw);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(raw.length / 2);
  if (dtype === 'F16') {
    for (let i = 0; i < out.length; i++) out[i] = f16ToF32(v.getUint16(2 * i, true));
  } else {
    const u32 = new Uint32Array(1);
    const f32 = new Float32Array(u32.buffer);
    for (let i = 0; i < out.length; i++) {
      u32[0] = v.getUint16(2 * i, true) << 16;
      out[i] = f32[0];
    }
  }
  return out;
}

/**
 * Serialises tensors deterministically: names sorted, `__metadata__` first, data laid out in name
 * order, the header padded with spaces so the data section starts 8-byte aligned.
 */
export function serializeSafetensors(
  tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const names = [...map.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    const sortedMeta: Record<string, string> = {};
    for (const k of Object.keys(metadata).sort()) {
      if (typeof metadata[k] !== 'string') throw new SafetensorsError(`metadata "${k}" is not a string`);
      sortedMeta[k] = metadata[k];
    }
    header[METADATA_KEY] = sortedMeta;
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = map.get(name)!;
    const dtype = t.dtype ?? 'F32';
    if (!isSaneTensorName(name)) throw new SafetensorsError(`tensor name "${clip(name)}" is not allowed`);
    if (!Object.hasOwn(ITEM_SIZE, dtype)) throw new SafetensorsError(`cannot write dtype ${String(dtype)}`);
    const numel = t.shape.reduce((p, d) => {
      if (!isNonNegativeSafeInt(d)) throw new SafetensorsError(`tensor "${name}" shape entry ${d} is not a non-negative integer`);
      return p * d;
    }, 1);
    if (numel !== t.data.length) throw new SafetensorsError(`tensor "${name}" shape [${t.shape}] does not match ${t.data.length} values`);
    const chunk = encode(t.data, dtype);
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + chunk.length] };
    chunks.push(chunk);
    offset += chunk.length;
  }
  const json = JSON.stringify(header);
  const unpadded = new TextEncoder().encode(json).length;
  const headerBytes = new TextEncoder().encode(json + ' '.repeat((8 - (unpadded % 8)) % 8));
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function encode(data: Float32Array, dtype: SafetensorsDtype): Uint8Array {
  const out = new Uint8Array(data.length * ITEM_SIZE[dtype]);
  const v = new DataView(out.buffer);
  if (dtype === 'U8') {
    data.forEach((x, i) => {
      if (!(Number.isInteger(x) && x >= 0 && x <= 255)) throw new SafetensorsError(`U8 value ${x} at ${i} is not an integer in 0..255`);
      out[i] = x;
    });
    return out;
  }
  if (dtype === 'F32') data.forEach((x, i) => v.setFloat32(4 * i, x, true));
  else if (dtype === 'F16') data.forEach((x, i) => v.setUint16(2 * i, f32ToF16(x), true));
  else data.forEach((x, i) => v.setUint16(2 * i, f32ToBf16(x), true));
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegativeSafeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

// Keeps attacker-controlled text in error messages short.
function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}
