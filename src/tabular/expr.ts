/**
 * The constraint language's syntax: a tokenizer and a recursive-descent parser from text to a
 * tree. Meaning (features, tolerances, differentiable violations) is given in compile.ts.
 *
 * ```
 * relation   := disjunct ('->' relation)?            implication, right-associative
 * disjunct   := conjunct (('or' | '||') conjunct)*
 * conjunct   := unary (('and' | '&&') unary)*
 * unary      := ('not' | '!') unary | '(' relation ')' | atom
 * atom       := sum CMP sum                          CMP: <= < >= > == !=
 *             | NAME ('==' | '!=') STRING            a categorical feature's category
 *             | NAME ('in' | 'not in') '(' STRING (',' STRING)* ')'
 * sum        := product (('+' | '-') product)*
 * product    := power (('*' | '/' | '%') power)*      '/' and '%' are safe: 0 where the divisor is 0
 * power      := '-' power | factor ('^' power)?        -2 ^ 2 is -4, 2 ^ -1 is 0.5
 * factor     := NUMBER | NAME | NAME '(' sum (',' sum)* ')' | '(' sum ')'
 *             | 'count' '(' relation (',' relation)* ')'   how many of the relations hold
 * functions  := log(x[, value where x ≤ 0]) log1p(x) abs(x) min(a, b…) max(a, b…) sum(a, b…)
 *               div(a, b, fill)
 * ```
 */

/** A numeric expression over raw features. */
export type NumExpr =
  | { k: 'num'; v: number }
  | { k: 'feat'; name: string }
  | { k: 'bin'; op: BinOp; a: NumExpr; b: NumExpr }
  | { k: 'count'; conds: Cond[] }
  | { k: 'neg'; a: NumExpr }
  | { k: 'call'; fn: FunctionName; args: NumExpr[] };

/** An arithmetic operator. */
export type BinOp = '+' | '-' | '*' | '/' | '%' | '^';

/** A comparison operator. */
export type CmpOp = '<=' | '<' | '>=' | '>' | '==' | '!=';

/** A relation (a condition on one record). */
export type Cond =
  | { k: 'cmp'; op: CmpOp; a: NumExpr; b: NumExpr }
  | { k: 'is'; feat: string; cats: string[]; neg: boolean }
  | { k: 'and'; parts: Cond[] }
  | { k: 'or'; parts: Cond[] }
  | { k: 'not'; c: Cond }
  | { k: 'implies'; a: Cond; b: Cond };

export const FUNCTIONS = { log: [1, 2], log1p: [1, 1], abs: [1, 1], min: [2, Infinity], max: [2, Infinity], sum: [1, Infinity], div: [3, 3] } as const;
export type FunctionName = keyof typeof FUNCTIONS;

type Tok = { t: 'num'; v: number; at: number } | { t: 'name'; v: string; at: number } | { t: 'str'; v: string; at: number } | { t: 'op'; v: string; at: number } | { t: 'end'; at: number };

/** A syntax error at a character position (1-based column in the expression). */
export class ExprSyntaxError extends Error {
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(message);
  }
}

const OPS = ['->', '<=', '>=', '==', '!=', '&&', '||', '<', '>', '+', '-', '*', '/', '%', '^', '(', ')', ',', '!', '[', ']'];

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const num = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(s.slice(i));
    if (num) {
      out.push({ t: 'num', v: Number(num[0]), at: i });
      i += num[0].length;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
    if (name) {
      out.push({ t: 'name', v: name[0], at: i });
      i += name[0].length;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const end = s.indexOf(ch, i + 1);
      if (end < 0) throw new ExprSyntaxError(`a string is never closed; add the closing ${ch}`, i + 1);
      out.push({ t: 'str', v: s.slice(i + 1, end), at: i });
      i = end + 1;
      continue;
    }
    const op = OPS.find((o) => s.startsWith(o, i));
    if (!op) throw new ExprSyntaxError(`unexpected character ${JSON.stringify(ch)}`, i + 1);
    out.push({ t: 'op', v: op, at: i });
    i += op.length;
  }
  out.push({ t: 'end', at: s.length });
  return out;
}

/**
 * Parses one relation. Throws {@link ExprSyntaxError} with the column of the problem.
 *
 * @example
 * ```ts
 * parseRelation('protocol_type == "icmp" -> flag == "SF"');
 * ```
 */
export function parseRelation(text: string): Cond {
  const toks = tokenize(text);
  let p = 0;
  const peek = () => toks[p]!;
  const isOp = (v: string) => peek().t === 'op' && (peek() as { v: string }).v === v;
  const isWord = (v: string) => peek().t === 'name' && (peek() as { v: string }).v === v;
  const err = (msg: string, tok = peek()): never => {
    throw new ExprSyntaxError(msg, tok.at + 1);
  };
  const shown = (t: Tok) => (t.t === 'end' ? 'the end' : t.t === 'str' ? JSON.stringify(t.v) : `"${String(t.v)}"`);
  const expectOp = (v: string) => {
    if (!isOp(v)) err(`expected "${v}" but found ${shown(peek())}`);
    p++;
  };

  function relation(): Cond {
    const a = disjunct();
    if (isOp('->')) {
      p++;
      return { k: 'implies', a, b: relation() };
    }
    return a;
  }
  function disjunct(): Cond {
    const parts = [conjunct()];
    while (isWord('or') || isOp('||')) {
      p++;
      parts.push(conjunct());
    }
    return parts.length === 1 ? parts[0]! : { k: 'or', parts };
  }
  function conjunct(): Cond {
    const parts = [unary()];
    while (isWord('and') || isOp('&&')) {
      p++;
      parts.push(unary());
    }
    return parts.length === 1 ? parts[0]! : { k: 'and', parts };
  }
  function unary(): Cond {
    if (isWord('not') || isOp('!')) {
      p++;
      return { k: 'not', c: unary() };
    }
    if (isOp('(')) {
      // '(' opens either a relation or a numeric expression: try the relation first.
      const save = p;
      try {
        p++;
        const c = relation();
        expectOp(')');
        if (!(peek().t === 'op' && ['<=', '<', '>=', '>', '==', '!=', '+', '-', '*', '/', '%', '^'].includes((peek() as { v: string }).v))) return c;
      } catch (e) {
        if (!(e instanceof ExprSyntaxError)) throw e;
      }
      p = save;
    }
    return atom();
  }
  function atom(): Cond {
    const t = peek();
    if (t.t === 'name' && !(t.v in FUNCTIONS) && t.v !== 'count') {
      const next = toks[p + 1]!;
      const after = toks[p + 2]!;
      if (next.t === 'op' && (next.v === '==' || next.v === '!=') && after.t === 'str') {
        p += 3;
        return { k: 'is', feat: t.v, cats: [after.v], neg: next.v === '!=' };
      }
      const neg = next.t === 'name' && next.v === 'not' && after.t === 'name' && after.v === 'in';
      if ((next.t === 'name' && next.v === 'in') || neg) {
        p += neg ? 3 : 2;
        const close = isOp('[') ? ']' : ')';
        if (!isOp('(') && !isOp('[')) err(`expected "(" after "in" but found ${shown(peek())}`);
        p++;
        const cats: string[] = [];
        for (;;) {
          const s = peek();
          if (s.t !== 'str') err(`expected a quoted category name but found ${shown(s)}`);
          cats.push((s as { v: string }).v);
          p++;
          if (isOp(',')) {
            p++;
            continue;
          }
          expectOp(close);
          break;
        }
        return { k: 'is', feat: t.v, cats, neg };
      }
    }
    const a = sum();
    const op = peek();
    if (!(op.t === 'op' && ['<=', '<', '>=', '>', '==', '!='].includes(op.v))) err(`expected a comparison (<=, <, >=, >, ==, !=) but found ${shown(op)}`);
    p++;
    const b = sum();
    return { k: 'cmp', op: (op as { v: string }).v as CmpOp, a, b };
  }
  function sum(): NumExpr {
    let a = product();
    while (isOp('+') || isOp('-')) {
      const op = (peek() as { v: string }).v as '+' | '-';
      p++;
      a = { k: 'bin', op, a, b: product() };
    }
    return a;
  }
  function product(): NumExpr {
    let a = power();
    while (isOp('*') || isOp('/') || isOp('%')) {
      const op = (peek() as { v: string }).v as '*' | '/' | '%';
      p++;
      a = { k: 'bin', op, a, b: power() };
    }
    return a;
  }
  function power(): NumExpr {
    if (isOp('-')) {
      p++;
      return { k: 'neg', a: power() };
    }
    const a = factor();
    if (!isOp('^')) return a;
    p++;
    return { k: 'bin', op: '^', a, b: power() };
  }
  function factor(): NumExpr {
    const t = peek();
    if (t.t === 'num') {
      p++;
      return { k: 'num', v: t.v };
    }
    if (isOp('(')) {
      p++;
      const e = sum();
      expectOp(')');
      return e;
    }
    if (t.t === 'name' && t.v === 'count' && toks[p + 1]?.t === 'op' && (toks[p + 1] as { v: string }).v === '(') {
      p += 2;
      const conds = [relation()];
      while (isOp(',')) {
        p++;
        conds.push(relation());
      }
      expectOp(')');
      return { k: 'count', conds };
    }
    if (t.t === 'name') {
      p++;
      if (!isOp('(')) return { k: 'feat', name: t.v };
      if (!(t.v in FUNCTIONS)) err(`unknown function "${t.v}"; known: ${Object.keys(FUNCTIONS).join(', ')}`, t);
      p++;
      const args = [sum()];
      while (isOp(',')) {
        p++;
        args.push(sum());
      }
      expectOp(')');
      const [lo, hi] = FUNCTIONS[t.v as FunctionName];
      if (args.length < lo || args.length > hi) err(`${t.v}() takes ${lo === hi ? lo : `${lo} or more`} argument${hi === 1 ? '' : 's'}, got ${args.length}`, t);
      return { k: 'call', fn: t.v as FunctionName, args };
    }
    return err(`expected a number, a feature or "(" but found ${shown(t)}`);
  }

  const c = relation();
  if (peek().t !== 'end') err(`unexpected ${shown(peek())} after a complete relation`);
  return c;
}
