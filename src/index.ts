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
