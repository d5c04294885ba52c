// A small seeded PRNG (xorshift32 over a splitmix32-scrambled seed): the soak's tenant, events and fault schedule
// are a function of --seed alone, so a violation found on one machine replays on another.
export class Rng {
  private state: number;

  constructor(seed: number) {
    // splitmix32: spreads nearby seeds (1, 2, 3) into unrelated states; xorshift needs a non-zero state.
    let z = (seed >>> 0) + 0x9e3779b9;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    this.state = (z ^ (z >>> 16)) >>> 0 || 0x6d2b79f5;
  }

  /** A float in [0, 1). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x1_0000_0000;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (!items.length) throw new Error('Rng.pick of an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** One of the keys, with probability proportional to its weight. */
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    let r = this.next() * entries.reduce((s, [, w]) => s + w, 0);
    for (const [k, w] of entries) if ((r -= w) < 0) return k;
    return entries.at(-1)![0];
  }

  /** A GUID made from the stream (the simulator's own ids stay random; these are only for names). */
  hex(n: number): string {
    let s = '';
    while (s.length < n) s += this.int(0, 0xffff).toString(16).padStart(4, '0');
    return s.slice(0, n);
  }
}
