/**
 * advtrain — adversarial attacks, adversarial training and robustness evaluation on TensorFlow.js.
 *
 * The public API, named exports only, in the order of the flow: engine → data → model → threat →
 * attack → train → evaluate → report. Everything else in `src/` is internal and may change.
 *
 * @example
 * ```ts
 * import { selectBackend, loadDataset, subset, buildZooModel, fromLayersModel, train, parseThreat, evaluate, renderReport } from 'advtrain';
 * await selectBackend('auto');
 * const data = await loadDataset('mnist');
 * const clf = fromLayersModel(buildZooModel('mnist-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 }), { domain: data.train.domain });
 * await train(clf, data.train, data.test, { epochs: 1, batchSize: 64, optimizer: 'adam', schedule: { kind: 'constant', lr: 1e-3 }, seed: 0 });
 * const result = await evaluate(clf, subset(data.test, 200), { threat: parseThreat('linf:0.1'), preset: 'quick' });
 * const html = await renderReport(result);
 * ```
 */

// Engine: which tfjs backend runs the kernels.
export { selectBackend, type BackendChoice, type BackendInfo } from './engine/backend.js';

// Data: data sets, their splits and the feasible set of inputs.
export { loadDataset, knownDatasets, type LoadOptions } from './data/index.js';
export type { Dataset, DataSplits } from './data/dataset.js';
export type { Domain } from './data/domain.js';
export { subset, splitValidation } from './data/batching.js';
export { deriveSeed } from './data/rng.js';
export { textToIdsDataset, type TextDataset, type TextSplits } from './data/text-dataset.js';
export { loadTextDataset, isTextDataset } from './data/index.js';
export { loadSpam, type SpamOptions, type SpamSplit, type SpamSplits } from './data/spam.js';
export { loadTextCsv, type TextCsvOptions } from './data/text-csv.js';

// Text: tokenizer, vocabulary and the TextClassifier contract (raw texts in, logits out).
export { defaultTokenizer, type Tokenizer, type Token, type TokenKind } from './text/tokenizer.js';
export { buildVocabulary, Vocabulary, type VocabularyOptions } from './text/vocabulary.js';
export { textClassifier, LayersTextClassifier, type TextClassifier, type TextPreprocessing } from './text/text-classifier.js';
export { loadTextClassifier, saveTextPreprocessing } from './text/text-model-io.js';

// Tabular data: the constraint schema, the reversible encoding, loaders and raw formats.
export { loadSchema, parseSchema, type TabularSchema } from './tabular/schema.js';
export { TabularEncoding, type TabularRecord } from './tabular/encoding.js';
export { totalViolation } from './tabular/compile.js';
export { repairRelations } from './tabular/relation-repair.js';
export { recordInfeasibility, validityRate } from './tabular/validate.js';
export type { TabularDataset } from './tabular/tabular-dataset.js';
export { loadNslKdd } from './tabular/nsl-kdd.js';
export { loadPhishing } from './tabular/phishing.js';
export { loadTabularCsv } from './tabular/csv-tabular.js';
export { readTabularRecords, writeRawRecords, writeTabularExamples } from './tabular/raw-writer.js';

// Model: the Classifier contract, its adapters, the zoo, save/load and ONNX.
export {
  fromLayersModel, fromGraphModel, fromFunction,
  type Classifier, type LayersClassifier, type AdapterOptions, type ModelOutput,
} from './model/classifier.js';
export { buildZooModel, ZOO_NAMES, type ZooName, type ZooSpec } from './model/zoo.js';
export { saveModel, loadModel, fileHandler, type ModelMetadata, type LoadedModel, type LoadModelOptions } from './model/io.js';
export { loadOnnxClassifier, type OnnxOptions, type OnnxClassifier } from './model/onnx.js';
export { evaluateClean, type CleanMetrics } from './model/accuracy.js';

// Threats: what an attacker may change.
export { parseAnyThreat } from './threat/parse.js';
export { parseThreat, lpThreat, type ThreatModel, type Norm } from './threat/threat-model.js';
export { spatialThreat, type SpatialThreat, type SpatialThreatSpec } from './threat/spatial.js';
export type { AnyThreat, Threat, ThreatOver } from './threat/threat.js';
export { textThreat, parseTextThreat, type TextThreat, type TextThreatSpec } from './threat/text-threat.js';

// Attacks: every attack with its parameters, and the registry of names.
export type { Attack, AttackOptions, AttackResult } from './attacks/attack.js';
export type { MinimalNormResult } from './attacks/minimal-norm.js';
export { Fgsm, type FgsmParams } from './attacks/fgsm.js';
export { Pgd, type PgdParams } from './attacks/pgd.js';
export { Apgd, ApgdTargeted, type ApgdParams, type ApgdTargetedParams } from './attacks/apgd.js';
// Constrained attacks for tabular data (records stay valid: types, immutables, relations).
export { Capgd, type CapgdParams } from './attacks/capgd.js';
export { Moeva, type MoevaParams } from './attacks/moeva.js';
export { Caa, type CaaParams } from './attacks/caa.js';
export { Fab, type FabParams } from './attacks/fab.js';
export { DeepFool, type DeepFoolParams } from './attacks/deepfool.js';
export { CwL2, type CwL2Params } from './attacks/cw-l2.js';
export { Jsma, type JsmaParams } from './attacks/jsma.js';
export { SquareAttack, type SquareParams } from './attacks/square.js';
export { HopSkipJump, type HopSkipJumpParams } from './attacks/hopskipjump.js';
export { GenAttack, type GenAttackParams } from './attacks/genattack.js';
export { DifferentialEvolution, type DifferentialEvolutionParams } from './attacks/differential-evolution.js';
export { Spatial, type SpatialParams, type SpatialAttackResult } from './attacks/spatial.js';
export { createAttack, attackNames } from './attacks/registry.js';

// Text attacks: built from parts (goal + constraints + transformation + search), five recipes.
export { TextAttack, type TextAttackParts, type TextAttackOptions, type TextAttackOutcome } from './text/attack/text-attack.js';
export type { Transformation, TextConstraint, SearchMethod, AttackContext } from './text/attack/parts.js';
export { wordNetSwap, charEdits, goodWordInsertion, type CharEdit } from './text/attack/transformations.js';
export { gradientSynonymSwap } from './text/attack/gradient-swap.js';
export { pwwsSearch, greedyWordImportance, beamSearch } from './text/attack/search.js';
export { geneticSearch } from './text/attack/genetic.js';
export { wordNet, type WordNet } from './text/attack/wordnet.js';
export { createTextAttack, textAttackNames } from './text/attack/recipes.js';

// Training: the loop, its configuration, strategies, schedules, recipes and callbacks.
export { train } from './training/trainer.js';
export type { TrainConfig, TrainResult, EpochMetrics } from './training/train-config.js';
export type { TrainingStrategy } from './training/strategy.js';
export { makeStrategy, METHODS, type Method, type MethodOptions } from './training/strategies/index.js';
export { makeSchedule, parseSchedule, type ScheduleSpec, type LrSchedule } from './training/schedules.js';
export { recipeFor, type Recipe } from './training/recipes.js';
export type { TrainCallback, TrainLoop, EpochProgress, EpochVerdict, CallbackState } from './training/callbacks/callback.js';

// Evaluation: one attack, the worst case over an ensemble, all of it, and transfer.
export { evaluate, type EvaluateOptions } from './eval/evaluate.js';
export { runAttack, type AttackRunOptions, type AttackRunResult } from './eval/attack-run.js';
export { evaluateEnsemble, type ProtocolOptions, type ProtocolResult } from './eval/protocol.js';
export { PRESETS, presetMembers, type PresetName, type Member } from './eval/presets.js';
export { transferAttack, transferMatrix, type TransferAttackResult } from './eval/transfer.js';
export type { EvalResultV2, AttackFileResult, TransferFileResult, AttackRow } from './eval/schema.js';
export { validateEvalResult } from './eval/validate-result.js';
export { runTextAttack, type TextRunOptions, type TextRunResult, type TextExample } from './eval/text-attack-run.js';
export { evaluateText, type TextEvalOptions } from './eval/text-eval.js';

// Report: the HTML report of an eval result.
export { renderReport, writeReport } from './report/html.js';

// Errors: bad input the user can fix.
export { UserError } from './errors.js';
