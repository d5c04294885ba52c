// The soak's indexed leak scanner finds exactly what the reliability suite's plain one finds.
import { describe, expect, it } from 'vitest';
import { LeakIndex } from './leaks.js';
import { Rng } from './rng.js';

/** harness.ts Emitted.leaks, over plain entries. */
function plainScan(secrets: string[], entries: Array<{ where: string; text: string }>): string[] {
  const hits: string[] = [];
  for (const { where, text } of entries)
    for (const s of secrets.filter((x) => x.length >= 8)) {
      const at = text.indexOf(s);
      const escaped = JSON.stringify(s).slice(1, -1);
      if (at >= 0) hits.push(`${where} at character ${at} (a secret of ${s.length} characters)`);
      else if (escaped !== s && text.includes(escaped)) hits.push(`${where} (JSON-escaped secret)`);
    }
  return hits;
}

describe('LeakIndex', () => {
  it('finds what the plain scan finds: raw, JSON-escaped, overlapping and shared prefixes', () => {
    const rng = new Rng(3);
    const chars = 'abcdefgh~._-"\\\n0123';
    const word = (n: number) => Array.from({ length: n }, () => rng.pick([...chars])).join('');
    const secrets = Array.from({ length: 60 }, () => word(rng.int(4, 40)));
    secrets.push('sharedprefix-one', 'sharedprefix-two', 'short');
    const entries = Array.from({ length: 200 }, (_, i) => {
      let text = word(rng.int(0, 80));
      if (rng.chance(0.3)) text += rng.pick(secrets);
      if (rng.chance(0.2)) text += JSON.stringify(rng.pick(secrets)).slice(1, -1);
      if (rng.chance(0.1)) text += 'sharedprefix-one sharedprefix-two';
      return { where: `entry ${i}`, text: text + word(rng.int(0, 20)) };
    });
    const index = new LeakIndex();
    index.addSecrets(secrets.slice(0, 30));
    index.addSecrets(secrets); // repeats are ignored
    const sort = (a: string[]) => [...a].sort();
    const expected = plainScan(secrets, entries);
    expect(expected.length).toBeGreaterThan(20);
    expect(sort(index.scan(entries))).toEqual(sort(expected));
  });
});
