import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../errors.js';

/** IDX element types, by their type byte. */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed array an IDX file decodes to (one per {@link IdxDtype}). */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file: its dimensions and its values, row-major. */
export interface IdxFile {
  dims: number[];
  dtype: IdxDtype;
  data: IdxData;
}

const DTYPES: Record<number, { dtype: IdxDtype; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
};

const hex2 = (b: number): string => b.toString(16).padStart(2, '0');

/**
 * Reads an IDX file (the MNIST format), optionally gzip-compressed (detected by its magic
 * bytes, so `.gz` files and misnamed ones both work).
 *
 * Throws {@link UserError} with one line for a missing file, a bad magic number, a file
 * shorter than its header says (with expected and actual byte counts) or trailing bytes.
 *
 * @example
 * ```ts
 * const { dims, data } = readIdx('data/train-images-idx3-ubyte'); // dims [60000, 28, 28]
 * ```
 */
export function readIdx(path: string): IdxFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UserError(`IDX file not found: ${path}; check the path (files look like train-images-idx3-ubyte or .gz)`);
    }
    if (code === 'EISDIR') throw new UserError(`IDX path is a directory: ${path}; pass the file inside it`);
    throw new UserError(`cannot read IDX file ${path}: ${(e as Error).message}`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new UserError(`${path} looks gzip-compressed but does not decompress (${(e as Error).message}); re-download it`);
    }
  } else if (path.endsWith('.gz')) {
    throw new UserError(`${path} ends in .gz but is not gzip data (first bytes ${hexPrefix(bytes)}); re-download it`);
  }
  return parseIdx(bytes, path);
}

function hexPrefix(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4), hex2).join(' ') || '(none: empty file)';
}

/**
 * Decodes IDX bytes already in memory. `source` only names the data in error messages.
 *
 * @example
 * ```ts
 * const f = parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])); // dims [2], data [7, 9]
 * ```
 */
export function parseIdx(bytes: Uint8Array, source = '<IDX bytes>'): IdxFile {
  if (bytes.length < 4) {
    throw new UserError(`${source} is not an IDX file: only ${bytes.length} bytes, too short for the 4-byte magic number`);
  }
  const type = DTYPES[bytes[2]!];
  const ndim = bytes[3]!;
  if (bytes[0] !== 0 || bytes[1] !== 0 || type === undefined || ndim === 0) {
    throw new UserError(
      `${source} is not an IDX file: bad magic 0x${hexPrefix(bytes).replace(/ /g, '')} ` +
        `(expected 0x0000, a type byte 08/09/0B/0C/0D/0E and a dimension count ≥ 1); check that you passed the right file`,
    );
  }
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) {
    throw new UserError(
      `${source} is truncated: its header needs ${headerBytes} bytes for ${ndim} dimensions but the file has ${bytes.length}; re-download it`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * type.bytes;
  const shape = `[${dims.join(', ')}] of ${type.dtype}`;
  if (bytes.length < expected) {
    throw new UserError(
      `${source} is truncated: header says ${shape} = ${expected} bytes in all, but the file has ${bytes.length} bytes; re-download it`,
    );
  }
  if (bytes.length > expected) {
    throw new UserError(
      `${source} has ${bytes.length - expected} trailing bytes: header says ${shape} = ${expected} bytes in all, but the file has ${bytes.length}; check that it is not two files joined`,
    );
  }
  return { dims, dtype: type.dtype, data: decode(view, headerBytes, count, type.dtype) };
}

function decode(view: DataView, offset: number, count: number, dtype: IdxDtype): IdxData {
  const base = view.byteOffset + offset;
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(view.buffer, base, count);
    case 'int8':
      return new Int8Array(view.buffer, base, count);
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/**
 * Encodes values as IDX bytes (big-endian), the inverse of {@link parseIdx}. Handy for tests
 * and for exporting a data set to tools that read MNIST-format files.
 *
 * @example
 * ```ts
 * writeFileSync('labels-idx1-ubyte', encodeIdx([3], 'uint8', Uint8Array.from([1, 2, 3])));
 * ```
 */
export function encodeIdx(dims: number[], dtype: IdxDtype, data: ArrayLike<number>): Uint8Array {
  const entry = Object.entries(DTYPES).find(([, t]) => t.dtype === dtype);
  if (entry === undefined) throw new UserError(`unknown IDX dtype ${dtype}`);
  const [code, { bytes }] = entry;
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new UserError(`IDX dims [${dims.join(', ')}] need ${count} values but ${data.length} were given`);
  }
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + count * bytes);
  const view = new DataView(out.buffer);
  out[2] = Number(code);
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < count; i++) {
    const o = header + i * bytes;
    const v = data[i]!;
    if (dtype === 'uint8') view.setUint8(o, v);
    else if (dtype === 'int8') view.setInt8(o, v);
    else if (dtype === 'int16') view.setInt16(o, v, false);
    else if (dtype === 'int32') view.setInt32(o, v, false);
    else if (dtype === 'float32') view.setFloat32(o, v, false);
    else view.setFloat64(o, v, false);
  }
  return out;
}
