/**
 * Models travel to workers by reference: a path on storage every machine sees, or the model's
 * bytes stored once in Redis under their SHA-256. Either way a worker hashes what it got and
 * refuses a model whose hash is not the one the job names.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Redis } from 'ioredis';
import { locateModel } from '../model/io.js';
import { writeFileAtomic } from '../fsutil.js';
import { UserError } from '../errors.js';
import type { ModelRef } from './job.js';

/** Redis key of a model's bytes. */
export const modelKey = (sha256: string): string => `advtrain:model:${sha256}`;

/** How long stored model bytes live after the last run that used them started. */
export const MODEL_TTL_S = 7 * 24 * 3600;

const SAFE_NAME = /^[\w][\w.-]*$/;

/**
 * A model's files as one buffer: a JSON header line (names and sizes), then the files' bytes.
 * TF.js: model.json (under that name), its weight files and text.json if present; ONNX: the file.
 */
export function modelBundle(path: string): Buffer {
  const loc = locateModel(path);
  const files: { name: string; bytes: Buffer }[] = [];
  if (loc.format === 'onnx') {
    files.push({ name: 'model.onnx', bytes: readFileSync(loc.file) });
  } else {
    const json = readFileSync(loc.file);
    files.push({ name: 'model.json', bytes: json });
    let manifest: { paths: string[] }[] = [];
    try {
      manifest = (JSON.parse(json.toString('utf8')) as { weightsManifest?: { paths: string[] }[] }).weightsManifest ?? [];
    } catch {
      throw new UserError(`${loc.file} is not valid JSON: re-save the model`);
    }
    for (const p of manifest.flatMap((g) => g.paths)) {
      const name = p.replace(/^\.\//, '');
      if (!SAFE_NAME.test(name)) throw new UserError(`${loc.file} names weights file '${p}' outside its folder: a sharded run ships only files beside model.json`);
      const wp = join(loc.dir, name);
      if (!existsSync(wp)) throw new UserError(`weights file missing: ${wp} (named in ${loc.file}); copy it beside model.json`);
      files.push({ name, bytes: readFileSync(wp) });
    }
    if (existsSync(join(loc.dir, 'text.json'))) files.push({ name: 'text.json', bytes: readFileSync(join(loc.dir, 'text.json')) });
  }
  const header = Buffer.from(JSON.stringify({ format: 'advtrain-model-bundle', files: files.map((f) => ({ name: f.name, size: f.bytes.byteLength })) }) + '\n');
  return Buffer.concat([header, ...files.map((f) => f.bytes)]);
}

/** SHA-256 (hex) of a buffer. */
export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Stores a bundle once under its hash (refreshing its expiry if it is there) and returns the hash. */
export async function storeModel(redis: Redis, bundle: Buffer): Promise<string> {
  const sha = sha256(bundle);
  const key = modelKey(sha);
  const set = await redis.set(key, bundle, 'EX', MODEL_TTL_S, 'NX');
  if (set === null) await redis.expire(key, MODEL_TTL_S);
  return sha;
}

/** Writes a bundle's files into `dir` (created fresh), checking every name. */
function unpackBundle(bundle: Buffer, dir: string): void {
  const nl = bundle.indexOf(0x0a);
  let header: { format?: string; files?: { name: string; size: number }[] };
  try {
    header = JSON.parse(bundle.subarray(0, nl).toString('utf8')) as typeof header;
  } catch {
    throw new Error('the model bytes in Redis are not a model bundle');
  }
  if (header.format !== 'advtrain-model-bundle' || !Array.isArray(header.files)) throw new Error('the model bytes in Redis are not a model bundle');
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  let off = nl + 1;
  for (const f of header.files) {
    if (!SAFE_NAME.test(f.name) || basename(f.name) !== f.name || !Number.isInteger(f.size) || f.size < 0) throw new Error(`the model bundle names a bad file '${f.name}'`);
    writeFileAtomic(join(tmp, f.name), bundle.subarray(off, off + f.size));
    off += f.size;
  }
  if (off !== bundle.byteLength) throw new Error('the model bundle is truncated');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

/**
 * The local path of the model a job names, its hash verified: the shared path itself, or the
 * bytes from Redis unpacked under `cacheDir/<sha256>`. Throws one line on a mismatch.
 */
export async function resolveModel(redis: Redis, ref: ModelRef, cacheDir = join(tmpdir(), `advtrain-worker-${process.pid}`)): Promise<string> {
  if (ref.via === 'path') {
    if (!existsSync(ref.path)) throw new Error(`model ${ref.path} not found on this worker: mount the shared storage at the same path, or run the coordinator with --model-via redis`);
    const got = sha256(modelBundle(ref.path));
    if (got !== ref.sha256) throw new Error(`model hash mismatch: ${ref.path} on this worker has sha256 ${got.slice(0, 16)}…, the run expects ${ref.sha256.slice(0, 16)}… (the file changed, or this worker sees another file at that path)`);
    return ref.path;
  }
  const dir = join(cacheDir, ref.sha256);
  if (existsSync(join(dir, 'model.json')) || existsSync(join(dir, 'model.onnx'))) return existsSync(join(dir, 'model.onnx')) ? join(dir, 'model.onnx') : dir;
  const bundle = await redis.getBuffer(modelKey(ref.sha256));
  if (!bundle) throw new Error(`model sha256 ${ref.sha256.slice(0, 16)}… is not in Redis (expired or deleted): rerun the coordinator, which stores it again`);
  const got = sha256(bundle);
  if (got !== ref.sha256) throw new Error(`model hash mismatch: the bytes in Redis under ${ref.sha256.slice(0, 16)}… hash to ${got.slice(0, 16)}… (corrupted or overwritten): rerun the coordinator`);
  unpackBundle(bundle, dir);
  return existsSync(join(dir, 'model.onnx')) ? join(dir, 'model.onnx') : dir;
}
