/** Running sums of one epoch's metrics (plain numbers: a mid-epoch checkpoint saves them as JSON). */
export class EpochSums {
  loss = 0;
  seen = 0;
  clean = { loss: 0, hits: 0, n: 0 };
  adv = { loss: 0, hits: 0, n: 0 };
  add(which: 'clean' | 'adv', loss: number, hits: number, n: number): void {
    this[which].loss += loss;
    this[which].hits += hits;
    this[which].n += n;
  }
  mean(which: 'clean' | 'adv'): [number | null, number | null] {
    const s = this[which];
    return s.n ? [s.loss / s.n, s.hits / s.n] : [null, null];
  }
  toJSON(): Record<string, unknown> {
    return { loss: this.loss, seen: this.seen, clean: this.clean, adv: this.adv };
  }
  static from(j: Record<string, unknown>): EpochSums {
    return Object.assign(new EpochSums(), structuredClone(j));
  }
}
