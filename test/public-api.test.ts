// The public API (src/index.ts): its exact list of names; an @example in the TSDoc of every one,
// and every example (and the README's library example) type-checks against it; one run of the
// whole flow through it alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import * as tf from '@tensorflow/tfjs-core';
import * as api from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url)); // build/test
const INDEX_DTS = join(here, '..', 'src', 'index.d.ts');
const ROOT = join(here, '..', '..');

/** Every exported name, values and types; a change here is a change of the public API. */
const PUBLIC = [
  // engine
  'BackendChoice', 'BackendInfo', 'selectBackend',
  // data
  'DataSplits', 'Dataset', 'Domain', 'LoadOptions', 'deriveSeed', 'knownDatasets', 'loadDataset', 'splitValidation', 'subset',
  'SpamOptions', 'SpamSplit', 'SpamSplits', 'TextCsvOptions', 'TextDataset', 'TextSplits', 'isTextDataset', 'loadSpam', 'loadTextCsv',
  'loadTextDataset', 'textToIdsDataset',
  // text
  'LayersTextClassifier', 'TextClassifier', 'TextPreprocessing', 'Token', 'TokenKind', 'Tokenizer', 'Vocabulary', 'VocabularyOptions', 'buildVocabulary',
  'defaultTokenizer', 'loadTextClassifier', 'saveTextPreprocessing', 'textClassifier',
  // tabular data
  'TabularDataset', 'TabularEncoding', 'TabularRecord', 'TabularSchema', 'loadNslKdd', 'loadPhishing', 'loadSchema', 'loadTabularCsv', 'parseSchema',
  'readTabularRecords', 'recordInfeasibility', 'repairRelations', 'totalViolation', 'validityRate', 'writeRawRecords', 'writeTabularExamples',
  // model
  'AdapterOptions', 'Classifier', 'CleanMetrics', 'LayersClassifier', 'LoadModelOptions', 'LoadedModel', 'ModelMetadata', 'ModelOutput',
  'OnnxClassifier', 'OnnxOptions', 'ZOO_NAMES', 'ZooName', 'ZooSpec', 'buildZooModel', 'evaluateClean', 'fileHandler', 'fromFunction',
  'fromGraphModel', 'fromLayersModel', 'loadModel', 'loadOnnxClassifier', 'saveModel',
  // threats
  'AnyThreat', 'Norm', 'SpatialThreat', 'SpatialThreatSpec', 'Threat', 'ThreatModel', 'lpThreat', 'parseAnyThreat', 'parseThreat', 'spatialThreat',
  'TextThreat', 'TextThreatSpec', 'ThreatOver', 'parseTextThreat', 'textThreat',
  // attacks
  'Apgd', 'ApgdParams', 'ApgdTargeted', 'ApgdTargetedParams', 'Attack', 'AttackOptions', 'AttackResult', 'Caa', 'CaaParams', 'Capgd', 'CapgdParams',
  'CwL2', 'CwL2Params', 'DeepFool', 'Moeva', 'MoevaParams',
  'DeepFoolParams', 'DifferentialEvolution', 'DifferentialEvolutionParams', 'Fab', 'FabParams', 'Fgsm', 'FgsmParams', 'GenAttack',
  'GenAttackParams', 'HopSkipJump', 'HopSkipJumpParams', 'Jsma', 'JsmaParams', 'MinimalNormResult', 'Pgd', 'PgdParams', 'Spatial',
  'SpatialAttackResult', 'SpatialParams', 'SquareAttack',
  'SquareParams', 'attackNames', 'createAttack',
  // text attacks
  'AttackContext', 'CharEdit', 'SearchMethod', 'TextAttack', 'TextAttackOptions', 'TextAttackOutcome', 'TextAttackParts', 'TextConstraint',
  'Transformation', 'WordNet', 'beamSearch', 'charEdits', 'createTextAttack', 'geneticSearch', 'goodWordInsertion', 'gradientSynonymSwap',
  'greedyWordImportance', 'pwwsSearch', 'textAttackNames', 'wordNet', 'wordNetSwap',
  // training
  'CallbackState', 'EpochMetrics', 'EpochProgress', 'EpochVerdict', 'LrSchedule', 'METHODS', 'Method', 'MethodOptions', 'Recipe',
  'ScheduleSpec', 'TrainCallback', 'TrainConfig', 'TrainLoop', 'TrainResult', 'TrainingStrategy', 'makeSchedule', 'makeStrategy',
  'parseSchedule', 'recipeFor', 'train',
  // evaluation
  'AttackFileResult', 'AttackRow', 'AttackRunOptions', 'AttackRunResult', 'EvalResultV2', 'EvaluateOptions', 'Member', 'PRESETS',
  'PresetName', 'ProtocolOptions', 'ProtocolResult', 'TransferAttackResult', 'TransferFileResult', 'evaluate', 'evaluateEnsemble',
  'presetMembers', 'runAttack', 'transferAttack', 'transferMatrix', 'validateEvalResult',
  'TextEvalOptions', 'TextExample', 'TextRunOptions', 'TextRunResult', 'evaluateText', 'runTextAttack',
  // report, errors
  'renderReport', 'writeReport', 'UserError',
].sort();

interface Declared { name: string; isValue: boolean; hasExample: boolean; where: string; examples: string[] }
let declared: Declared[] | undefined;

/** The exports of build/src/index.d.ts, each with whether its declaration's TSDoc has an @example. */
function declaredExports(): Declared[] {
  if (declared) return declared;
  assert.ok(existsSync(INDEX_DTS), `${INDEX_DTS} is missing: build with tsc first`);
  const program = ts.createProgram([INDEX_DTS], {
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [], skipLibCheck: true, noEmit: true,
  });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(INDEX_DTS)!);
  assert.ok(moduleSymbol, 'index.d.ts is not a module');
  declared = checker.getExportsOfModule(moduleSymbol).map((s) => {
    const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    const decls = target.declarations ?? [];
    const d = decls[0];
    return {
      name: s.name,
      isValue: (target.flags & ts.SymbolFlags.Value) !== 0,
      hasExample: decls.some((decl) => ts.getJSDocTags(decl).some((tag) => tag.tagName.text === 'example')),
      examples: decls.flatMap((decl) => ts.getJSDocTags(decl).filter((tag) => tag.tagName.text === 'example'))
        .map((tag) => /```ts\n([\s\S]*?)```/.exec(ts.getTextOfJSDocComment(tag.comment) ?? '')?.[1] ?? ''),
      where: d ? d.getSourceFile().fileName.replace(/.*\/build\//, '').replace(/\.d\.ts$/, '.ts') : '?',
    };
  });
  return declared;
}

/**
 * Type errors of `code` compiled as an ES module in the repository root, where 'advtrain' resolves
 * to this package's build (node_modules/advtrain links to the repository), each as 'line N: message'.
 */
function typeCheck(code: string): string[] {
  const file = join(ROOT, 'public-api-example-check.mts'); // virtual: never written
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022,
    strict: true, noEmit: true, skipLibCheck: true, types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, code, lang) : getSourceFile.call(host, name, lang, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? code : readFile.call(host, name));
  return ts.getPreEmitDiagnostics(ts.createProgram([file], options, host)).map((d) =>
    `line ${d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
}

/** What the examples may use without defining it: the public API, tfjs, and the usual variables of a user's program. */
const EXAMPLE_PRELUDE = (names: string[]) => `import { ${names.join(', ')} } from 'advtrain';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-converter';
import { readFileSync } from 'node:fs';
declare const clf: LayersClassifier, model: tfl.LayersModel, target: Classifier, surrogate: Classifier, a: Classifier, b: Classifier;
declare const onnxModel: Classifier, tfjsTwin: Classifier;
declare const data: DataSplits, test: Dataset, config: TrainConfig, threat: ThreatModel, name: string;
declare const x: tf.Tensor, y: tf.Tensor1D, labels: tf.Tensor1D, targets: tf.Tensor1D, grad: tf.Tensor;
declare const describe: EvaluateOptions['describe'], result: EvalResultV2;
`;

test('the public API exports exactly the chosen names (an accidental export or removal fails here)', () => {
  assert.deepEqual(declaredExports().map((e) => e.name).sort(), PUBLIC);
  // the runtime module agrees with the declarations: its values are the exported values
  const values = declaredExports().filter((e) => e.isValue).map((e) => e.name).sort();
  assert.deepEqual(Object.keys(api).sort(), values);
});

test('every exported symbol has TSDoc with an @example at its declaration', () => {
  const missing = declaredExports().filter((e) => !e.hasExample).map((e) => `${e.name} (${e.where})`);
  assert.deepEqual(missing, [], `add an @example to the TSDoc of: ${missing.join(', ')}`);
});

test('every @example of the public API type-checks against it', () => {
  const exports = declaredExports();
  let code = EXAMPLE_PRELUDE(exports.map((e) => e.name));
  const owners: [number, string][] = [];
  for (const e of exports) {
    for (const example of e.examples) {
      owners.push([code.split('\n').length, e.name]);
      // each in its own async function: its names are its own, and it may await
      code += `export async function example${owners.length}() {\n${example.replace(/^import .*$/gm, '')}\n}\n`;
    }
  }
  const errors = typeCheck(code).map((err) => {
    const line = Number(/^line (\d+)/.exec(err)?.[1]);
    return `${owners.filter(([start]) => start <= line).at(-1)?.[1] ?? 'prelude'}: ${err}`;
  });
  assert.deepEqual(errors, []);
});

test("the README's library example type-checks against the public API (imported as 'advtrain')", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### As a library'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  assert.ok(code.includes("from 'advtrain'"), 'the README has a library example importing advtrain');
  assert.deepEqual(typeCheck(code), []);
});

test('the flow through the public API alone: zoo mlp → train 1 epoch → evaluate quick → report, leaking no tensors', async () => {
  await api.selectBackend('wasm');
  const data = await api.loadDataset('mnist');
  const trainSet = api.subset(data.train, 200);
  const testSet = api.subset(data.test, 20);
  const clf = api.fromLayersModel(
    api.buildZooModel('mlp', { inputShape: data.train.shape, numClasses: data.train.numClasses, seed: 0 }),
    { domain: data.train.domain },
  );
  const before = tf.memory().numTensors;
  const trained = await api.train(clf, trainSet, undefined, {
    epochs: 1, batchSize: 50, optimizer: 'adam', schedule: { kind: 'constant', lr: 3e-3 }, seed: 0,
  });
  assert.equal(trained.history.length, 1);
  const loss = trained.history[0]!.loss;
  assert.ok(loss > 0 && loss < Math.log(10) + 0.5, `training loss ${loss}`);
  assert.equal(tf.memory().numTensors, before, 'train leaked tensors (its optimizer is disposed at the end)');

  const threat = api.parseThreat('linf:0.1');
  const result = await api.evaluate(clf, testSet, { threat, preset: 'quick', seed: 0, checkN: 20 });
  assert.equal(tf.memory().numTensors, before, 'evaluate leaked tensors');
  assert.equal(api.validateEvalResult(JSON.parse(JSON.stringify(result))).schema, 'advtrain/eval@2');
  assert.equal(result.data.n, 20);
  assert.equal(result.model.path, 'memory');
  assert.ok(result.clean_accuracy >= 0.3 && result.clean_accuracy <= 1, `clean accuracy ${result.clean_accuracy} (chance is 0.1)`);
  assert.ok(result.robust_accuracy >= 0 && result.robust_accuracy <= result.clean_accuracy, `robust ${result.robust_accuracy} > clean ${result.clean_accuracy}`);
  assert.equal(result.attacks.length, api.presetMembers('quick', threat).length);
  assert.equal(result.attacks.at(-1)!.robust_accuracy, result.robust_accuracy);

  const html = await api.renderReport(result);
  assert.match(html, /^<!doctype html>/i);
  assert.ok(html.includes(`id="robust-accuracy">${(result.robust_accuracy * 100).toFixed(1)}%<`), 'the report shows the robust accuracy');
  assert.equal(tf.memory().numTensors, before, 'renderReport leaked tensors');
});
