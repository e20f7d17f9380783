/** A chunk's result as one binary value for Redis: a JSON header line, then typed arrays. */

type Typed = Float32Array | Float64Array | Int32Array | Int8Array | Uint8Array;

const CTORS = { Float32Array, Float64Array, Int32Array, Int8Array, Uint8Array } as const;
type TypeName = keyof typeof CTORS;

/** Named typed arrays and a JSON part, as the worker stores them and the coordinator reads them. */
export interface Packed<M> {
  meta: M;
  arrays: Record<string, Typed>;
}

/**
 * Packs a JSON part and typed arrays (their bytes, in platform byte order: coordinator and
 * workers are little-endian machines running the same advtrain).
 */
export function pack<M>(p: Packed<M>): Buffer {
  const entries = Object.entries(p.arrays).map(([name, a]) => ({ name, type: a.constructor.name as TypeName, length: a.length }));
  const header = Buffer.from(JSON.stringify({ format: 'advtrain-chunk', meta: p.meta, arrays: entries }) + '\n', 'utf8');
  return Buffer.concat([header, ...Object.values(p.arrays).map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))]);
}

/** Reads what {@link pack} wrote (copying each array into its own aligned buffer). */
export function unpack<M>(buf: Buffer): Packed<M> {
  const nl = buf.indexOf(0x0a);
  const header = JSON.parse(buf.subarray(0, nl).toString('utf8')) as { format: string; meta: M; arrays: { name: string; type: TypeName; length: number }[] };
  if (header.format !== 'advtrain-chunk') throw new Error('a stored chunk result is not in advtrain-chunk format');
  let off = nl + 1;
  const arrays: Record<string, Typed> = {};
  for (const e of header.arrays) {
    const Ctor = CTORS[e.type];
    if (!Ctor) throw new Error(`a stored chunk result holds an array of unknown type ${e.type}`);
    const a = new Ctor(e.length);
    const bytes = a.byteLength;
    new Uint8Array(a.buffer).set(buf.subarray(off, off + bytes));
    off += bytes;
    arrays[e.name] = a;
  }
  if (off !== buf.byteLength) throw new Error('a stored chunk result is truncated or too long');
  return { meta: header.meta, arrays };
}
