import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputPath } from '../src/fsutil.js';
import { threatCoverageWarning } from '../src/cli/common.js';
import { parseThreat } from '../src/threat/threat-model.js';
import { UserError } from '../src/errors.js';

test('output paths are checked before work: folder for file, file for folder, below a file, unwritable, non-empty', () => {
  const root = mkdtempSync(join(tmpdir(), 'advtrain-preflight-'));
  writeFileSync(join(root, 'f.txt'), 'x');
  mkdirSync(join(root, 'full'));
  writeFileSync(join(root, 'full', 'a'), 'a');
  const refuses = (o: Parameters<typeof checkOutputPath>[0], pattern: RegExp) =>
    assert.throws(() => checkOutputPath(o), (e: Error) => e instanceof UserError && pattern.test(e.message) && !e.message.includes('\n'), o.path);
  refuses({ flag: '--json', path: join(root, 'full'), kind: 'file' }, /--json .* is a folder, not a file: give a file path/);
  refuses({ flag: '--out', path: join(root, 'f.txt'), kind: 'dir' }, /--out .* is a file, not a folder/);
  refuses({ flag: '--json', path: join(root, 'f.txt', 'r.json'), kind: 'file' }, /lies below .*f\.txt, which is a file/);
  refuses({ flag: '--out', path: join(root, 'f.txt', 'a', 'b'), kind: 'dir' }, /lies below .*f\.txt, which is a file/);
  refuses({ flag: '--save-examples', path: join(root, 'full'), kind: 'dir', mustBeEmpty: true }, /not empty: choose a new folder/);
  refuses({ flag: '--json', path: '/proc/advtrain-preflight/r.json', kind: 'file' }, /cannot be written/);
  refuses({ flag: '--json', path: '', kind: 'file' }, /--json is empty/);
  // Accepted: new paths (parents made later), an existing file to replace, an empty or allowed folder.
  checkOutputPath({ flag: '--json', path: join(root, 'new', 'deep', 'r.json'), kind: 'file' });
  checkOutputPath({ flag: '--json', path: join(root, 'f.txt'), kind: 'file' });
  checkOutputPath({ flag: '--out', path: join(root, 'full'), kind: 'dir' });
  checkOutputPath({ flag: '--out', path: join(root, 'run'), kind: 'dir', mustBeEmpty: true });
  assert.deepEqual(readdirSync(root).sort(), ['f.txt', 'full'], 'the checks leave nothing behind');
});

test('a budget whose ball holds the whole input box is flagged, a smaller one is not', () => {
  const unit = { lower: 0, upper: 1 };
  assert.match(threatCoverageWarning(parseThreat('linf:2'), unit, 784)!, /linf:2 reaches every input .*diameter is 1/);
  assert.match(threatCoverageWarning(parseThreat('linf:1'), unit, 784)!, /reaches every input/);
  assert.equal(threatCoverageWarning(parseThreat('linf:0.99'), unit, 784), undefined);
  assert.equal(threatCoverageWarning(parseThreat('l2:27'), unit, 784), undefined);
  assert.match(threatCoverageWarning(parseThreat('l2:28'), unit, 784)!, /l2 diameter is 28/);
  assert.match(threatCoverageWarning(parseThreat('l0:4'), unit, 4)!, /reaches every input/);
  // Per-feature bounds: the widest feature decides for linf.
  const tabular = { lower: Float32Array.from([0, -5]), upper: Float32Array.from([1, 5]) };
  assert.equal(threatCoverageWarning(parseThreat('linf:2'), tabular, 2), undefined);
  assert.match(threatCoverageWarning(parseThreat('linf:10'), tabular, 2)!, /reaches every input/);
});
