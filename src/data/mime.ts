import PostalMime from 'postal-mime';
import { convert } from 'html-to-text';
import { UserError } from '../errors.js';

/**
 * The readable part of an e-mail: its subject and its body as plain text.
 *
 * @example
 * ```ts
 * const m: MailText = await mailText(raw, 'inbox/42.eml');
 * console.log(m.subject, m.body.length);
 * ```
 */
export interface MailText {
  subject: string;
  /** The text/plain part, or the text/html part converted to text when there is no plain part. */
  body: string;
}

/** Longest body kept, in characters: models read a few hundred tokens, attacks rewrite the rest verbatim. */
export const MAX_BODY_CHARS = 20_000;

// html-to-text: no line wrapping (it would change the text between runs of different widths),
// images and styles dropped, link targets kept in brackets unless they repeat the link's text
// (a spam's URLs are part of what it says).
const HTML_OPTIONS = {
  wordwrap: false as const,
  selectors: [
    { selector: 'img', format: 'skip' },
    { selector: 'a', options: { hideLinkHrefIfSameAsText: true, ignoreHref: false } },
    { selector: 'table', format: 'block' },
    { selector: 'tr', format: 'block' },
    { selector: 'td', format: 'inline' },
    { selector: 'th', format: 'inline' },
  ],
};

/**
 * Converts HTML to plain text with html-to-text (no wrapping, images skipped, link targets kept).
 *
 * @example
 * ```ts
 * htmlToText('<p>Buy <b>now</b> at <a href="http://x.biz">our shop</a></p>'); // 'Buy now at our shop [http://x.biz]'
 * ```
 */
export function htmlToText(html: string): string {
  return convert(html, HTML_OPTIONS);
}

/** Collapses runs of blank lines and trailing spaces; keeps the words and single line breaks. */
export function tidyText(s: string): string {
  return s
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t\u00a0]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/**
 * Parses a raw RFC 822 message (headers, MIME parts in any transfer encoding: base64,
 * quoted-printable, 7/8-bit) with postal-mime and returns its subject and body text. HTML-only
 * messages are converted with html-to-text. A message postal-mime cannot read is refused with one
 * line naming `name`.
 *
 * @example
 * ```ts
 * const { subject, body } = await mailText('Subject: hi\nContent-Type: text/plain\n\nSee you at 5', 'note.eml');
 * // subject 'hi', body 'See you at 5'
 * ```
 */
export async function mailText(raw: string | Uint8Array, name: string): Promise<MailText> {
  let email;
  try {
    email = await PostalMime.parse(raw);
  } catch (e) {
    throw new UserError(`message ${name} is malformed and cannot be parsed (${(e as Error).message.split('\n')[0]}); fix or remove it`);
  }
  const subject = (email.subject ?? '').replace(/\s+/g, ' ').trim();
  let body = email.text !== undefined && email.text.trim() !== '' ? email.text : email.html !== undefined ? safeHtml(email.html, name) : '';
  // Spam often sends HTML labelled text/plain (or with no type at all): read it as HTML too, so
  // the same content reads the same whichever way it was labelled.
  if (looksLikeHtml(body)) body = safeHtml(body, name);
  body = tidyText(body);
  if (body.length > MAX_BODY_CHARS) body = body.slice(0, MAX_BODY_CHARS);
  return { subject, body };
}

const HTML_TAG = /<\/?(?:html|head|body|table|tr|td|font|div|p|br|a|center|meta|b|i|img|span)\b[^>]*>/gi;

/** Whether a "plain" body is really an HTML document: it opens with one, or has many HTML tags. */
export function looksLikeHtml(s: string): boolean {
  if (/^\s*(?:<!doctype html|<html|<head|<body)/i.test(s)) return true;
  const tags = s.match(HTML_TAG)?.length ?? 0;
  return tags >= 5 && tags * 20 >= s.split(/\s+/).length;
}

function safeHtml(html: string, name: string): string {
  try {
    return htmlToText(html);
  } catch (e) {
    throw new UserError(`message ${name}: its HTML part cannot be converted to text (${(e as Error).message.split('\n')[0]}); fix or remove it`);
  }
}

/**
 * The text a spam model reads for one message: the subject, a blank line, the body.
 *
 * @example
 * ```ts
 * messageText({ subject: 'Cheap meds', body: 'Buy now' }); // 'Cheap meds\n\nBuy now'
 * ```
 */
export function messageText(m: MailText): string {
  if (m.subject === '') return m.body;
  if (m.body === '') return m.subject;
  return `${m.subject}\n\n${m.body}`;
}
