// The held-notices format and the reminder window, as tables and properties (no I/O).
import { randomBytes, randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  countThatFits,
  decodePending,
  encodePending,
  expireOld,
  MAX_PENDING_BYTES,
  noticeKey,
  storedValue,
  toNotifiable,
  type PendingItem,
} from '../../src/notify/pending.js';
import { expiringCredentials } from '../../src/notify/reminders.js';
import type { AppView, Credential } from '../../src/rotation/checks.js';

const DAY = 86_400_000;
const NOW = new Date('2026-11-23T03:00:00Z');
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

const item = (over: Partial<PendingItem> = {}): PendingItem => ({
  appId: '11111111-1111-1111-1111-111111111111',
  displayName: 'Contoso Intranet',
  action: 'rotated',
  keyId: '22222222-2222-2222-2222-222222222222',
  queuedAt: at(-1),
  runId: 'run-1',
  to: ['alice@contoso.com'],
  ...over,
});

/** A held rotation notice as the product writes it (test/notify/pending-capacity.e2e.test.ts prints a real one): to
 *  its owner and NOTIFY_ALSO, with fresh identifiers (the part gzip cannot shrink). */
const rotatedNotice = (i: number, queuedAt = at(-1)): PendingItem => {
  const appId = randomUUID();
  return {
    appId,
    displayName: `Capacity App ${String(i).padStart(3, '0')}`,
    action: 'rotated',
    keyId: randomUUID(),
    credentialName: `entra-secret-rotator 2026-12-01 ${randomBytes(4).toString('hex')}`,
    expiresOn: '2027-05-30T19:31:36.7630000Z',
    secretUri: `https://contoso-rotator.vault.azure.net/secrets/app-${appId}/${randomBytes(16).toString('hex')}`,
    oldKeyIds: [randomUUID()],
    queuedAt,
    runId: '0ff29aa1-b2f2-451d-9637-8094b2044102',
    to: [`owner-${i}@contoso.com`, 'secops@contoso.com'],
  };
};

describe('pending store capacity (v2: gzip + base64 in one secret)', () => {
  const notices = Array.from({ length: 400 }, (_, i) => rotatedNotice(i));
  const v1Bytes = (list: readonly PendingItem[]) => Buffer.byteLength(JSON.stringify({ v: 1, items: list }));
  const v2Bytes = (list: readonly PendingItem[]) => Buffer.byteLength(storedValue(list));

  // Measured 2026-12-01: 576 bytes a notice in v1, 44 fit in 25 KB; about 144 bytes in v2, 178 fit (4x). In a real
  // run (pending-capacity.e2e.test.ts) 90 such notices took 51,217 bytes as v1 and 13,635 stored.
  it('a rotated notice costs ~576 bytes in v1 (44 fit in 25 KB) and ~144 in v2 (~178 fit): 4x more', () => {
    const v1Count = countThatFits(notices, v1Bytes, MAX_PENDING_BYTES);
    const v2Count = countThatFits(notices, v2Bytes, MAX_PENDING_BYTES);
    expect(v1Count).toBeGreaterThanOrEqual(43);
    expect(v1Count).toBeLessThanOrEqual(45);
    expect(v2Count).toBeGreaterThanOrEqual(165);
    expect(v2Count).toBeGreaterThanOrEqual(3.5 * v1Count);
    expect(v2Bytes(notices.slice(0, v2Count))).toBeLessThanOrEqual(MAX_PENDING_BYTES);
    expect(v2Bytes(notices.slice(0, v2Count + 1))).toBeGreaterThan(MAX_PENDING_BYTES);
  });

  it('stores v2 for a non-empty store: no item text in the clear, the same value for the same items', () => {
    const some = notices.slice(0, 20);
    const value = storedValue(some, 'run-9');
    const outer = JSON.parse(value) as Record<string, unknown>;
    expect(Object.keys(outer).sort()).toEqual(['gz', 'v']);
    expect(outer.v).toBe(2);
    expect(value).not.toContain(some[0]!.appId);
    expect(storedValue(some, 'run-9')).toBe(value);
    expect(decodePending(value)).toEqual({ items: some, invalid: 0, sending: 'run-9' });
    // An empty store stays the short plain document.
    expect(storedValue([])).toBe('{"v":1,"items":[]}');
  });

  it('reads a v1 store written by the previous release', () => {
    const some = notices.slice(0, 30);
    const v1 = JSON.stringify({ v: 1, items: some, sending: 'old-run' });
    expect(decodePending(v1)).toEqual({ items: some, invalid: 0, sending: 'old-run' });
  });

  const gz = (text: string) => gzipSync(text).toString('base64');
  it.each([
    ['gz missing', '{"v":2}', 0, 1],
    ['gz not text', '{"v":2,"gz":5}', 0, 1],
    ['gz not base64 of gzip', '{"v":2,"gz":"bm90IGd6aXA="}', 0, 1],
    ['gz holding text that is not JSON', JSON.stringify({ v: 2, gz: gz('nope') }), 0, 1],
    ['gz holding JSON without items', JSON.stringify({ v: 2, gz: gz('{"v":1}') }), 0, 1],
    [
      'gz holding one good item and one bad',
      JSON.stringify({ v: 2, gz: gz(JSON.stringify({ v: 1, items: [item(), { appId: 1 }] })) }),
      1,
      1,
    ],
    ['a number', '5', 0, 1],
    ['null', 'null', 0, 1],
  ])('decodes a hand-edited v2 value (%s) defensively', (_name, value, good, invalid) => {
    const r = decodePending(value);
    expect(r.items).toHaveLength(good);
    expect(r.invalid).toBe(invalid);
  });

  it('does not inflate a hand-made value past 16 MiB', () => {
    const bomb = JSON.stringify({
      v: 2,
      gz: gzipSync(Buffer.alloc(32 * 1024 * 1024, 0x20)).toString('base64'),
    });
    expect(Buffer.byteLength(bomb)).toBeLessThan(MAX_PENDING_BYTES * 4);
    expect(decodePending(bomb)).toEqual({ items: [], invalid: 1 });
  });
});

describe('countThatFits (the cap decision, pure)', () => {
  const sizes =
    (per: number, header = 0) =>
    (list: readonly number[]) =>
      header + list.length * per;

  it.each([
    ['everything fits', 10, sizes(10), 100, 10],
    ['exactly at the limit', 10, sizes(10, 0), 99, 9],
    ['a header', 10, sizes(10, 25), 100, 7],
    ['nothing fits but the empty list', 5, sizes(200), 100, 0],
    ['an empty list', 0, sizes(10), 100, 0],
  ])('%s', (_name, n, sizeOf, max, expected) => {
    const list = Array.from({ length: n }, (_, i) => i);
    expect(countThatFits(list, sizeOf, max)).toBe(expected);
  });

  it('returns only a count measured to fit, the most of the newest when size grows with the count (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 500 }), { maxLength: 300 }),
        fc.integer({ min: 0, max: 20_000 }),
        (itemSizes, max) => {
          const sizeOf = (list: readonly number[]) => 20 + list.reduce((a, b) => a + b, 0);
          const k = countThatFits(itemSizes, sizeOf, max);
          if (k > 0) expect(sizeOf(itemSizes.slice(0, k))).toBeLessThanOrEqual(max);
          if (k < itemSizes.length) expect(sizeOf(itemSizes.slice(0, k + 1))).toBeGreaterThan(max);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never returns a count that does not fit, even when size is not monotonic in the count', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 200 }), (noise) => {
        const sizeOf = (list: readonly number[]) => (list.length ? noise[list.length % noise.length]! : 0);
        const k = countThatFits(noise, sizeOf, 500);
        if (k > 0) expect(sizeOf(noise.slice(0, k))).toBeLessThanOrEqual(500);
      }),
      { numRuns: 200 },
    );
  });
});

describe('pending format', () => {
  it('keeps the run sending the items (one field, not one per item), and stays under the limit with it', () => {
    const { value } = encodePending([item()], MAX_PENDING_BYTES, 'run-2');
    expect(decodePending(value)).toEqual({ items: [item()], invalid: 0, sending: 'run-2' });
    expect(decodePending(encodePending([item()]).value).sending).toBeUndefined();
    const many = Array.from({ length: 400 }, (_, i) => rotatedNotice(i, at(-1)));
    const marked = encodePending(many, MAX_PENDING_BYTES, 'run-2');
    expect(marked.dropped).toBeGreaterThan(0);
    expect(Buffer.byteLength(marked.value)).toBeLessThanOrEqual(MAX_PENDING_BYTES);
    expect(decodePending(marked.value).sending).toBe('run-2');
  });

  it('round-trips items and keeps no owner/tag fields', () => {
    const items = [
      item(),
      item({ action: 'failed', keyId: undefined, reason: 'why', to: ['b@contoso.com'] }),
    ];
    const { value, dropped } = encodePending(items);
    expect(dropped).toBe(0);
    expect(decodePending(value)).toEqual({ items, invalid: 0 });
    expect(toNotifiable(items[0]!)).toEqual({
      appId: items[0]!.appId,
      displayName: 'Contoso Intranet',
      action: 'rotated',
      keyId: items[0]!.keyId,
      heldSince: items[0]!.queuedAt,
      ownerAddresses: [],
      tagRecipients: [],
    });
  });

  it.each([
    ['not JSON', 'nope', 0, 1],
    ['no items array', '{"v":1}', 0, 1],
    ['an item without recipients', JSON.stringify({ items: [{ ...item(), to: [] }] }), 0, 1],
    ['an unknown action', JSON.stringify({ items: [{ ...item(), action: 'deleted' }] }), 0, 1],
    ['a bad queuedAt', JSON.stringify({ items: [{ ...item(), queuedAt: 'yesterday' }] }), 0, 1],
    ['one good, one bad', JSON.stringify({ items: [item(), { appId: 1 }] }), 1, 1],
    ['a reason that is not text', JSON.stringify({ items: [{ ...item(), reason: { a: 1 } }] }), 0, 1],
    ['expiring that is not a list', JSON.stringify({ items: [{ ...item(), expiring: 'soon' }] }), 0, 1],
    [
      'a well-formed reminder',
      JSON.stringify({
        items: [
          { ...item(), action: 'reminder', expiring: [{ kind: 'secret', keyId: 'k', endDateTime: at(3) }] },
        ],
      }),
      1,
      0,
    ],
  ])('decodes %s defensively', (_name, value, good, invalid) => {
    const r = decodePending(value);
    expect(r.items).toHaveLength(good);
    expect(r.invalid).toBe(invalid);
  });

  it('drops addresses that are not addresses (the store is editable by hand)', () => {
    const r = decodePending(JSON.stringify({ items: [item({ to: ['Ann <a@b.com>', 'ok@contoso.com'] })] }));
    expect(r.items[0]!.to).toEqual(['ok@contoso.com']);
  });

  it('keeps the newest items, in their order, when the whole set would not fit even compressed', () => {
    // Shuffled ages: item i was queued i hours ago, so the newest are the lowest i.
    const ages = [5, 0, 9, 3, 7, 1, 8, 2, 6, 4];
    const items = ages.map((h) => rotatedNotice(h, new Date(NOW.getTime() - h * 3_600_000).toISOString()));
    const { value, kept, dropped } = encodePending(items, 1400);
    expect(Buffer.byteLength(value)).toBeLessThanOrEqual(1400);
    expect(dropped).toBeGreaterThan(0);
    expect(kept).toEqual(items.filter((_, i) => ages[i]! < kept.length));
    expect(decodePending(value).items).toEqual(kept);
  });

  it('never exceeds the limit and loses nothing that fits (property)', () => {
    const arbItem = fc.record({
      appId: fc.uuid(),
      displayName: fc.string({ maxLength: 300 }),
      action: fc.constantFrom('rotated' as const, 'failed' as const, 'reminder' as const),
      reason: fc.option(fc.string({ maxLength: 400 }), { nil: undefined }),
      queuedAt: fc.integer({ min: 0, max: 40 * DAY }).map((ms) => new Date(NOW.getTime() - ms).toISOString()),
      runId: fc.uuid(),
      to: fc.constant(['a@contoso.com']).map((l) => [...l]),
    });
    fc.assert(
      fc.property(fc.array(arbItem, { maxLength: 150 }), (items) => {
        const { value, kept, dropped } = encodePending(items);
        expect(Buffer.byteLength(value)).toBeLessThanOrEqual(MAX_PENDING_BYTES);
        expect(kept.length + dropped).toBe(items.length);
        expect(decodePending(value).items).toHaveLength(kept.length);
        // Never fewer than the previous release (plain v1 JSON) kept.
        if (Buffer.byteLength(JSON.stringify({ v: 1, items })) <= MAX_PENDING_BYTES) expect(dropped).toBe(0);
      }),
      { numRuns: 50 },
    );
  });

  it('expires items older than 30 days', () => {
    const old = item({ queuedAt: at(-31) });
    const young = item({ queuedAt: at(-29) });
    expect(expireOld([old, young], NOW)).toEqual({ fresh: [young], expired: [old] });
  });

  it.each([
    [{ action: 'rotated' as const, keyId: 'A' }, { action: 'rotated' as const, keyId: 'B' }, false],
    [{ action: 'failed' as const, keyId: undefined }, { action: 'failed' as const, keyId: undefined }, true],
    [{ action: 'reminder' as const }, { action: 'reminder' as const }, true],
    [{ action: 'failed' as const }, { action: 'rotated' as const, keyId: 'A' }, false],
  ])('the same notice: %o and %o → %s', (a, b, same) => {
    const appId = 'AbC';
    expect(noticeKey({ appId, ...a }) === noticeKey({ appId: appId.toLowerCase(), ...b })).toBe(same);
  });
});

describe('what a reminder is about', () => {
  const cred = (keyId: string, endsInDays: number): Credential => ({
    keyId,
    displayName: keyId,
    startDateTime: at(-400),
    endDateTime: at(endsInDays),
  });
  const app = (passwords: Credential[], certificates: Credential[] = []): AppView => ({
    id: 'o',
    appId: 'a',
    displayName: 'App',
    tags: [],
    passwordCredentials: passwords,
    keyCredentials: certificates,
  });
  const keys = (a: AppView) => expiringCredentials(a, NOW, 30).map((e) => `${e.kind}:${e.keyId}`);

  it.each([
    ['a secret in 5 days', app([cred('s5', 5)]), ['secret:s5']],
    ['a secret in 31 days', app([cred('s31', 31)]), []],
    ['a secret that expired 10 days ago', app([cred('x10', -10)]), ['secret:x10']],
    ['a secret that expired 40 days ago', app([cred('x40', -40)]), []],
    ['a renewed secret (a newer one beyond the window)', app([cred('s5', 5), cred('s300', 300)]), []],
    [
      'two expiring secrets, soonest first',
      app([cred('s20', 20), cred('s3', 3)]),
      ['secret:s3', 'secret:s20'],
    ],
    ['a certificate in 12 days', app([], [cred('c12', 12)]), ['certificate:c12']],
    [
      'secrets and certificates judged apart',
      app([cred('s5', 5), cred('s300', 300)], [cred('c2', 2)]),
      ['certificate:c2'],
    ],
    ['nothing at all', app([]), []],
  ])('%s', (_name, a, expected) => {
    expect(keys(a)).toEqual(expected);
  });
});
