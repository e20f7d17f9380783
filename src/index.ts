/**
 * advtrain — adversarial attacks, adversarial training and robustness evaluation on TensorFlow.js.
 *
 * The flow is data → model → attack → train → evaluate → report; this module re-exports the
 * public API of each stage.
 *
 * @example
 * ```ts
 * import { selectBackend, loadDataset, buildZooModel, fromLayersModel, train, evaluateClean } from 'advtrain';
 * await selectBackend('auto');
 * const data = await loadDataset('mnist');
 * const clf = fromLayersModel(buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 }), { domain: data.train.domain });
 * await train(clf, data.train, data.test, { epochs: 1, batchSize: 64, optimizer: 'adam', schedule: { kind: 'constant', lr: 1e-3 }, seed: 0 });
 * console.log(evaluateClean(clf, data.test).accuracy);
 * ```
 */
export * from './errors.js';
export * from './engine/backend.js';
export * from './data/index.js';
export * from './model/classifier.js';
export * from './model/zoo.js';
export * from './model/io.js';
export * from './training/strategy.js';
export * from './training/schedules.js';
export * from './training/optimizers.js';
export * from './training/progress.js';
export * from './training/checkpoint.js';
export * from './training/trainer.js';
export * from './model/accuracy.js';
export * from './model/onnx.js';
export * from './threat/threat-model.js';
export * from './threat/spatial.js';
export * from './threat/parse.js';
export * from './threat/threat.js';
export * from './threat/domain-clip.js';
export * from './attacks/attack.js';
export * from './attacks/support.js';
export * from './attacks/losses.js';
export * from './attacks/tracker.js';
export * from './attacks/gradient.js';
export * from './attacks/fgsm.js';
export * from './attacks/pgd.js';
export * from './attacks/apgd.js';
export * from './attacks/fab.js';
export * from './attacks/deepfool.js';
export * from './attacks/minimal-norm.js';
export * from './attacks/checked.js';
export * from './attacks/pgd-step.js';
export * from './attacks/cw-l2.js';
export * from './attacks/square.js';
export * from './attacks/hopskipjump.js';
export * from './attacks/genattack.js';
export * from './attacks/differential-evolution.js';
export * from './attacks/spatial.js';
export * from './attacks/jsma.js';
export * from './attacks/registry.js';
export * from './training/strategies/index.js';
export * from './training/robust-check.js';
export * from './eval/schema.js';
export * from './eval/attack-run.js';
export * from './eval/presets.js';
export * from './eval/protocol.js';
export * from './eval/margin.js';
export * from './eval/checks.js';
export * from './eval/eps-curve.js';
export * from './eval/minimal-norms.js';
export * from './eval/transfer.js';
export * from './eval/evaluate.js';
export * from './eval/command.js';
export * from './eval/per-class.js';
export * from './report/png.js';
export * from './report/html.js';
