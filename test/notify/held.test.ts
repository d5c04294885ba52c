// Which recipient lists a dead run's messages may have had (src/notify/held.ts possibleRecipientLists), used by
// both lookups of what a dead run sent: held notices (held.ts) and owed notices taken over (recover.ts).
import { describe, expect, it } from 'vitest';
import { possibleRecipientLists } from '../../src/notify/held.js';

const sorted = (lists: string[][]) => lists.map((l) => [...l].sort().join('+')).sort();

describe('possibleRecipientLists', () => {
  it('groups recipients by the same notices, in any order, and gives every subset of a small group', () => {
    const noticesOf = new Map([
      ['a', ['k1', 'k2']],
      ['b', ['k2', 'k1']],
      ['c', ['k1']],
    ]);
    expect(sorted(possibleRecipientLists(noticesOf))).toEqual(['a', 'a+b', 'b', 'c']);
  });

  it('a large group: the whole group and each recipient alone', () => {
    const many = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const lists = possibleRecipientLists(new Map(many.map((a) => [a, ['k1']])));
    expect(sorted(lists)).toEqual(sorted([many, ...many.map((a) => [a])]));
  });
});
