import { UserError } from '../errors.js';
import { defaultTokenizer } from '../text/tokenizer.js';
import { parseTextThreat } from '../threat/text-threat.js';
import { parseThreat, type ThreatModel } from '../threat/threat-model.js';
import { TEXT_ONLY_METHODS, type Method } from '../training/strategies/index.js';

/** The threat of `embedding-pgd` when --threat is not given: each token's embedding moves at most this far (l2). */
export const DEFAULT_EMBEDDING_THREAT = 'l2:0.5';
/** The share of each text's tokens embedding-pgd perturbs when --salient is not given: the most salient tenth, like the attacks' 10% word budget. */
export const DEFAULT_SALIENT = 0.1;
/**
 * Good words a2t and embedding-pgd insert per augmented text when --good-words is not given: as
 * many as the 10% word budget allows a 100-word message, so training covers the goodword attack too.
 */
export const DEFAULT_GOOD_WORDS = 10;
/** The threat of `a2t` when --threat is not given: the text attacks' default budget. */
export const DEFAULT_A2T_THREAT = 'words:0.1';

/** What a text method's --threat means: a2t's word budget, or embedding-pgd's ball in embedding space. */
export interface TextMethodThreat {
  /** embedding-pgd: the trainer's threat (ε warm-up applies), in embedding units. */
  threat?: ThreatModel;
  /** a2t: the share of words its attack may replace. */
  maxShare?: number;
}

/**
 * Reads --threat for a text-only method, before any loading: `words:SHARE` for a2t (default
 * {@link DEFAULT_A2T_THREAT}); `l2:EPS` or `linf:EPS` per token in embedding space for
 * embedding-pgd (default {@link DEFAULT_EMBEDDING_THREAT}). Refuses a text method on image data,
 * and the options that would run image PGD on token ids (--robust-val, --co-guard on).
 */
export function textMethodThreat(o: { method: string; dataset: string; isText: boolean; threat?: string; robustVal?: number; coGuard?: string }): TextMethodThreat {
  if (!TEXT_ONLY_METHODS.includes(o.method as Method)) throw new Error(`${o.method} is not a text method`);
  if (!o.isText) throw new UserError(`--method ${o.method} trains text models: use a text data set (spam, spam-collection, csv:FILE), not ${o.dataset}`);
  if ((o.robustVal ?? 0) > 0) throw new UserError(`--robust-val runs PGD on pixel-like inputs and does not apply to --method ${o.method}: drop it (evaluate the model with the text attacks instead)`);
  if (o.coGuard === 'on') throw new UserError(`--co-guard runs PGD on pixel-like inputs and does not apply to --method ${o.method}: drop it`);
  if (o.method === 'a2t') return { maxShare: parseTextThreat(o.threat ?? DEFAULT_A2T_THREAT, defaultTokenizer()).maxShare };
  const threat = parseThreat(o.threat ?? DEFAULT_EMBEDDING_THREAT);
  if (threat.norm !== 'l2' && threat.norm !== 'linf') {
    throw new UserError(`--method embedding-pgd perturbs each token's embedding in an l2 or linf ball: use --threat l2:EPS or linf:EPS (got ${o.threat})`);
  }
  return { threat };
}
