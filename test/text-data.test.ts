// Text data: MIME decoding (base64, quoted-printable, HTML parts), dedupe before splitting,
// deterministic splits of the spam corpus, a user's CSV of texts and its one-line errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mailText, messageText } from '../src/data/mime.js';
import { splitSpam, type SpamMessage, SPAM_GROUPS } from '../src/data/spam.js';
import { dedupeTexts, stratifiedTextSplit } from '../src/data/text-dataset.js';
import { loadTextCsv } from '../src/data/text-csv.js';
import { isTextDataset, loadDataset, loadTextDataset } from '../src/data/index.js';

const crlf = (s: string) => s.replace(/\n/g, '\r\n');

test('MIME: a base64 text/plain body is decoded', async () => {
  const body = Buffer.from('Cheap meds at www.meds.biz — 50% off!\nReply now.', 'utf8').toString('base64');
  const raw = `From: a@b.com\nSubject: =?utf-8?B?${Buffer.from('Grüße', 'utf8').toString('base64')}?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n${body.slice(0, 40)}\n${body.slice(40)}\n`;
  const m = await mailText(raw, 'b64.eml');
  assert.equal(m.subject, 'Grüße');
  assert.equal(m.body, 'Cheap meds at www.meds.biz — 50% off!\nReply now.');
});

test('MIME: quoted-printable with soft line breaks and =XX escapes', async () => {
  const raw = crlf('Subject: Your account\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nPlease verify your acc=\nount at http://x.com/?a=3D1 =E9t=E9 now.\n');
  const m = await mailText(raw, 'qp.eml');
  assert.equal(m.subject, 'Your account');
  assert.equal(m.body, 'Please verify your account at http://x.com/?a=1 été now.');
});

test('MIME: an HTML-only message becomes text (tags gone, link targets kept); multipart prefers text/plain', async () => {
  const html = crlf('Subject: Offer\nContent-Type: text/html; charset=us-ascii\nContent-Transfer-Encoding: quoted-printable\n\n<html><body><p>Buy <b>now</b> at <a href=3D"http://win.biz/go">our shop</a>!</p><img src=3D"x.gif"><p>Second&nbsp;para &amp; more</p></body></html>\n');
  const m = await mailText(html, 'html.eml');
  assert.match(m.body, /^Buy now at our shop \[http:\/\/win\.biz\/go\]!/);
  assert.match(m.body, /Second\s+para & more/);
  assert.ok(!/[<>]/.test(m.body.replace('[http://win.biz/go]', '')), m.body);
  const alt = crlf([
    'Subject: Both', 'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="XX"', '',
    '--XX', 'Content-Type: text/plain', '', 'plain version', '--XX', 'Content-Type: text/html', '', '<p>html version</p>', '--XX--', '',
  ].join('\n'));
  const both = await mailText(alt, 'alt.eml');
  assert.equal(both.body, 'plain version');
  assert.equal(messageText(both), 'Both\n\nplain version');
  const htmlOnlyPart = crlf([
    'Subject: H', 'Content-Type: multipart/mixed; boundary="B"', '', '--B', 'Content-Type: text/html', 'Content-Transfer-Encoding: base64', '',
    Buffer.from('<div>Hello <i>there</i></div>').toString('base64'), '--B--', '',
  ].join('\n'));
  assert.equal((await mailText(htmlOnlyPart, 'mixed.eml')).body, 'Hello there');
  // HTML sent as text/plain (common in spam) is read as HTML; a plain text mentioning a tag is not
  const mislabelled = await mailText(crlf('Subject: X\nContent-Type: text/plain\n\n<HTML><BODY><FONT size=3>Cheap <B>loans</B></FONT><BR>Apply now</BODY></HTML>\n'), 'plain-html.eml');
  assert.equal(mislabelled.body, 'Cheap loans\nApply now');
  const prose = 'Use <b> for bold and <i> for italics in the template, then rebuild the whole site before Monday please.';
  assert.equal((await mailText(crlf(`Subject: Y\nContent-Type: text/plain\n\n${prose}\n`), 'prose.eml')).body, prose);
});

function msg(group: (typeof SPAM_GROUPS)[number], i: number, body: string, subject = `s${i}`): SpamMessage {
  return { group, file: `${String(i).padStart(5, '0')}.json`, subject, body };
}

/** A small corpus: 40 messages per group, a few repeated bodies, one body in both ham and spam. */
function corpus(): SpamMessage[] {
  const out: SpamMessage[] = [];
  let i = 0;
  for (const g of SPAM_GROUPS) for (let k = 0; k < 40; k++) out.push(msg(g, i++, `${g} body ${k}`));
  out.push(msg('spam-2', i++, 'spam-1 body 3')); // a resent spam: later copy dropped
  out.push(msg('spam-1', i++, 'easy-ham-1   body\n7')); // same body (white space aside) as ham: conflicting
  out.push(msg('easy-ham-2', i++, '', 'subject only'));
  out.push(msg('easy-ham-2', i++, '', ''));
  return out;
}

test('dedupe: later copies dropped, copies with different labels all dropped, before splitting', () => {
  const { kept, report } = dedupeTexts([
    { text: 'a  b', label: 0, source: '1' }, { text: 'a b', label: 0, source: '2' }, { text: 'c', label: 0, source: '3' }, { text: 'c', label: 1, source: '4' },
  ]);
  assert.deepEqual(kept.map((k) => k.source), ['1']);
  assert.deepEqual(report, { duplicates: 1, conflicting: 2 });
  const s = splitSpam(corpus(), { split: 'stratified', seed: 0 });
  assert.deepEqual(s.counts, { read: 204, empty: 1, duplicates: 1, conflicting: 2 });
  const all = [...s.train.texts, ...s.test.texts];
  assert.equal(new Set(all).size, all.length);
  assert.equal(all.filter((t) => t.endsWith('spam-1 body 3')).length, 1);
  assert.equal(all.some((t) => t.endsWith('easy-ham-1 body 7')), false);
  assert.ok(all.includes('subject only'));
});

test('spam splits: stratified is seeded and deterministic; collection puts the -1 groups and hard ham in train', () => {
  const c = corpus();
  const a = splitSpam(c, { split: 'stratified', seed: 3 });
  const b = splitSpam(c, { split: 'stratified', seed: 3 });
  const other = splitSpam(c, { split: 'stratified', seed: 4 });
  assert.deepEqual(a.test.texts, b.test.texts);
  assert.notDeepEqual(a.test.texts, other.test.texts);
  const spamShare = (y: Int32Array) => y.filter((v) => v === 1).length / y.length;
  assert.ok(Math.abs(spamShare(a.train.y) - spamShare(a.test.y)) < 0.03, 'stratified: same class shares');
  assert.ok(Math.abs(a.test.n / (a.train.n + a.test.n) - 0.2) < 0.02);
  assert.deepEqual(a.train.classNames, ['ham', 'spam']);
  const col = splitSpam(c, { split: 'collection' });
  assert.ok(col.train.texts.every((t) => /(easy-ham-1|hard-ham-1|spam-1) body/.test(t)));
  assert.ok(col.test.texts.every((t) => /(easy-ham-2|spam-2) body|subject only/.test(t)));
  assert.equal(col.train.n, 39 + 40 + 40); // easy-ham-1 less its conflicting body 7, hard-ham-1, spam-1 (its copy of body 7 dropped too)
  col.train.texts.forEach((t, i) => assert.equal(col.train.y[i], t.includes('spam') ? 1 : 0));
  const order = stratifiedTextSplit(c.map((m, i) => ({ text: m.body, label: i % 2, source: String(i) })), 0.25, 1);
  assert.deepEqual(order.test.map((t) => Number(t.source)), [...order.test.map((t) => Number(t.source))].sort((x, y) => x - y), 'order kept');
});

test('csv:FILE texts: columns by name, labels sorted, dedupe, stratified split; malformed rows in one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'advtrain-textcsv-'));
  try {
    const rows = ['id,message,label'];
    for (let i = 0; i < 30; i++) rows.push(`${i},"hello, friend ${i}",${i % 3 === 0 ? 'spam' : 'ham'}`);
    rows.push('99,"multi\nline text",ham', '100,"hello, friend 1",ham');
    const good = join(dir, 'good.csv');
    writeFileSync(good, rows.join('\n') + '\n');
    const s = loadTextCsv(good, { textColumn: 'message', labelColumn: 'label', seed: 0 });
    assert.deepEqual(s.train.classNames, ['ham', 'spam']);
    assert.equal(s.train.n + s.test.n, 31);
    assert.ok([...s.train.texts, ...s.test.texts].includes('multi\nline text'));
    const again = await loadTextDataset(`csv:${good}`, { textColumn: 'message', labelColumn: 'label', seed: 0 });
    assert.deepEqual(again.test.texts, s.test.texts);
    assert.equal(isTextDataset(`csv:${good}`), true);
    assert.equal(isTextDataset('spam'), true);
    assert.equal(isTextDataset(good), false);
    await assert.rejects(loadDataset('spam'), /spam is a text data set/);
    const cases: [string, RegExp][] = [
      ['id,message,label\n1,hi,ham\n2,"a, b",spam,extra\n', /bad\.csv line 3: expected 3 fields .* found 4/],
      ['id,message,label\n1,hi,ham\n2,,spam\n', /bad\.csv line 3: the text \(column "message"\) is empty/],
      ['id,message,label\n1,hi,ham\n2,yo,\n', /bad\.csv line 3: the label \(column "label"\) is empty/],
      ['id,message,label\n1,"hi,ham\n', /bad\.csv line 2: a quoted field is never closed/],
      ['id,text,label\n1,hi,ham\n', /no text column "message"; choose one of id, text, label/],
      ['id,message,label\n1,hi,ham\n2,yo,ham\n', /only one value \("ham"\)/],
    ];
    for (const [text, re] of cases) {
      const bad = join(dir, 'bad.csv');
      writeFileSync(bad, text);
      assert.throws(() => loadTextCsv(bad, { textColumn: 'message' }), (e: Error) => e.name === 'UserError' && re.test(e.message) && !e.message.includes('\n'), text);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('balanceClasses: every class oversampled to the largest, seeded, rows intact', async () => {
  const { balanceClasses } = await import('../src/data/balance.js');
  const y = Int32Array.from([0, 0, 0, 0, 0, 0, 0, 1, 1, 0]);
  const ds = { name: 'd', x: Float32Array.from(y, (_, i) => i), y, n: 10, shape: [1], numClasses: 2, classNames: ['a', 'b'], domain: { lower: 0, upper: 10 } };
  const b = balanceClasses(ds, 1);
  assert.equal(b.n, 16);
  assert.equal(b.y.filter((v) => v === 1).length, 8);
  for (let i = 0; i < b.n; i++) assert.equal(ds.y[b.x[i]!], b.y[i]);
  assert.deepEqual([...balanceClasses(ds, 1).x], [...b.x]);
  const y3 = Int32Array.from([0, 0, 0, 0, 0, 1, 1]);
  const odd = balanceClasses({ ...ds, y: y3, x: Float32Array.from(y3, (_, i) => i), n: 7 }, 2);
  const ones = [...odd.x].filter((_, i) => odd.y[i] === 1);
  assert.equal(ones.length, 5); // 2 × both, then one of them once more
  assert.ok(ones.filter((v) => v === 5).length >= 2 && ones.filter((v) => v === 6).length >= 2);
});
