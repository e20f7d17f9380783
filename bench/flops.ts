/**
 * Floating-point operations per example of a layers model, counted the usual way: 2 per
 * multiply-add of convolutions and dense layers (pooling, activations and the optimizer are not
 * counted). A training step is forward + gradient w.r.t. weights + gradient w.r.t. activations
 * (≈ 3× forward, minus the input gradient of a first layer that reads the model input directly);
 * an input gradient is forward + gradient w.r.t. activations (≈ 2× forward).
 */
import type * as tfl from '@tensorflow/tfjs-layers';

type Shape = (number | null)[];
const prod = (s: Shape) => s.reduce<number>((a, b) => a * (b ?? 1), 1);

/** Forward FLOPs per example of one layer (0 for layers without multiply-adds). */
function layerFlops(layer: tfl.layers.Layer): number {
  const cls = layer.getClassName();
  const out = layer.outputShape as Shape;
  const inp = (layer.input as tfl.SymbolicTensor).shape as Shape;
  const cfg = layer.getConfig() as { kernelSize?: number | number[]; filters?: number; units?: number };
  if (cls === 'Conv2D' || cls === 'Conv1D') {
    const k = ([] as number[]).concat(cfg.kernelSize ?? 1).reduce((a, b) => a * b, 1);
    const kk = cls === 'Conv2D' && !Array.isArray(cfg.kernelSize) ? k * k : k;
    const cin = inp[inp.length - 1] as number;
    return 2 * prod(out.slice(1)) * kk * cin;
  }
  if (cls === 'Dense') return 2 * (inp[inp.length - 1] as number) * (cfg.units as number);
  return 0;
}

/** FLOPs per example of a training step and of an input gradient. */
export function flopsPerExample(model: tfl.LayersModel): { forward: number; train: number; igrad: number } {
  const per = model.layers.map(layerFlops);
  const forward = per.reduce((a, b) => a + b, 0);
  const first = per.findIndex((f) => f > 0);
  // A first multiply-add layer that reads the model input needs no input gradient in training;
  // behind an embedding it does (the embedding's weights need it).
  const firstReadsInput = first === 0;
  return { forward, train: 3 * forward - (firstReadsInput ? per[0]! : 0), igrad: 2 * forward };
}
