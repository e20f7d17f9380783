/** Embeddings: GatherV2 (the look-up, on any axis and batchDims) and UnsortedSegmentSum (its gradient). */
import * as tf from '@tensorflow/tfjs-core';
import { fallback, host, off, runNative, type Inputs, type KernelArgs } from './context.js';

/**
 * GatherV2 on any axis and batchDims (x as [batch, outer, dim, slice], indices as [batch, m]): the
 * embedding look-up, and the per-row gather of the l1 projection, for which tfjs-backend-wasm
 * 4.22's own kernel reads out of bounds.
 */
export function gatherV2(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.GatherV2;
  const { x, indices } = args.inputs as Inputs;
  const { axis, batchDims } = args.attrs as unknown as tf.GatherV2Attrs;
  if ((x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32' || x.shape.length === 0) return fallback(name, args, 'not a float32/int32 tensor with int32 indices');
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as tf.Tensor, indices as tf.Tensor, tf.util.parseAxisParam(axis, x.shape)[0]!, batchDims ?? 0);
  const { batchSize, outerSize, dimSize, sliceSize } = info;
  const n = tf.util.sizeFromShape(indices.shape);
  if (n === 0 || tf.util.sizeFromShape(x.shape) === 0) return fallback(name, args, 'empty tensor');
  const b = host(args);
  const out = b.makeOutput(info.outputShape, x.dtype);
  let bad = -1;
  const r = runNative(name, args, out, (heap, addon) => {
    bad = addon.gather(heap, off(b, x), off(b, indices), off(b, out), batchSize, outerSize, dimSize, sliceSize, n / batchSize);
  });
  if (r === out && bad >= 0) {
    // The same error as the wasm kernel; the output is freed, nothing else was allocated.
    const heap = b.wasm.HEAPU8;
    const v = new Int32Array(heap.buffer, heap.byteOffset + off(b, indices), n)[bad]!;
    b.disposeData(out.dataId, true);
    throw new Error(`GatherV2: the index value ${v} is not in [0, ${dimSize - 1}]`);
  }
  return r;
}

export function unsortedSegmentSum(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const name = tf.UnsortedSegmentSum;
  const { x, segmentIds } = args.inputs as Inputs;
  const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
  if ((x.dtype !== 'float32' && x.dtype !== 'int32') || segmentIds.dtype !== 'int32') return fallback(name, args, 'not float32/int32 x with int32 ids');
  const k = segmentIds.shape.length;
  if (k === 0 || k > x.shape.length || !tf.util.arraysEqual(x.shape.slice(0, k), segmentIds.shape)) return fallback(name, args, 'ids do not cover the leading axes of x');
  const n = tf.util.sizeFromShape(segmentIds.shape);
  const inner = tf.util.sizeFromShape(x.shape.slice(k));
  if (n === 0 || inner === 0 || !(numSegments > 0)) return fallback(name, args, 'empty tensor');
  const b = host(args);
  const out = b.makeOutput([numSegments, ...x.shape.slice(k)], x.dtype);
  return runNative(name, args, out, (heap, addon) =>
    addon.unsortedSegmentSum(heap, off(b, x), off(b, segmentIds), off(b, out), n, inner, numSegments, x.dtype === 'int32' ? 1 : 0),
  );
}
