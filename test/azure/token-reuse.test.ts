// reuseTokens (src/azure/token-reuse.ts): the Graph SDK asks for a token on every request; the credential is asked
// only when the last token for those scopes is within 5 minutes of expiry, for claims, and once for concurrent asks.
import type { AccessToken, GetTokenOptions } from '@azure/identity';
import { expect, it } from 'vitest';
import { reuseTokens } from '../../src/azure/token-reuse.js';

function counting(lifetimeMs: number, now: () => number) {
  const calls: Array<GetTokenOptions | undefined> = [];
  return {
    calls,
    credential: {
      getToken: async (_scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> => {
        calls.push(options);
        await Promise.resolve();
        return { token: `t${calls.length}`, expiresOnTimestamp: now() + lifetimeMs, tokenType: 'Bearer' };
      },
    },
  };
}

it('answers from the last token until 5 minutes before it expires, then asks again', async () => {
  let t = 0;
  const now = () => t;
  const c = counting(60 * 60_000, now);
  const reused = reuseTokens(c.credential, now);
  expect((await reused.getToken('g/.default'))?.token).toBe('t1');
  t = 54 * 60_000;
  expect((await reused.getToken('g/.default'))?.token).toBe('t1');
  expect(c.calls).toHaveLength(1);
  t = 55 * 60_000; // 5 minutes left
  expect((await reused.getToken('g/.default'))?.token).toBe('t2');
  expect((await reused.getToken('other/.default'))?.token).toBe('t3'); // scopes are keys
});

it('concurrent asks share one call; claims always go to the credential', async () => {
  const now = () => 0;
  const c = counting(60 * 60_000, now);
  const reused = reuseTokens(c.credential, now);
  const tokens = await Promise.all([1, 2, 3].map(() => reused.getToken(['g/.default'])));
  expect(tokens.map((x) => x?.token)).toEqual(['t1', 't1', 't1']);
  expect((await reused.getToken(['g/.default'], { claims: 'e30' }))?.token).toBe('t2');
  expect(c.calls).toHaveLength(2);
});

it('a failed call is not kept: the next ask tries again', async () => {
  let fail = true;
  const reused = reuseTokens({
    getToken: async () => {
      if (fail) throw new Error('authority unreachable');
      return { token: 'ok', expiresOnTimestamp: Date.now() + 3_600_000, tokenType: 'Bearer' };
    },
  });
  await expect(reused.getToken('g/.default')).rejects.toThrow('authority unreachable');
  fail = false;
  expect((await reused.getToken('g/.default'))?.token).toBe('ok');
});
