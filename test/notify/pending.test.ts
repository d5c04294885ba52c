// The held-notices format and the reminder window, as tables and properties (no I/O).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodePending,
  encodePending,
  expireOld,
  MAX_PENDING_BYTES,
  noticeKey,
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

describe('pending format', () => {
  it('keeps the run sending the items (one field, not one per item), and stays under the limit with it', () => {
    const { value } = encodePending([item()], MAX_PENDING_BYTES, 'run-2');
    expect(decodePending(value)).toEqual({ items: [item()], invalid: 0, sending: 'run-2' });
    expect(decodePending(encodePending([item()]).value).sending).toBeUndefined();
    const many = Array.from({ length: 400 }, (_, i) => item({ to: [`owner-${i}@contoso.com`] }));
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

  it('keeps the newest items when the whole set would not fit under the limit', () => {
    const items = Array.from({ length: 10 }, (_, i) =>
      item({ runId: `run-${i}`, queuedAt: at(-10 + i), reason: 'x'.repeat(200), action: 'failed' }),
    );
    const { value, kept, dropped } = encodePending(items, 1200);
    expect(Buffer.byteLength(value)).toBeLessThanOrEqual(1200);
    expect(dropped).toBeGreaterThan(0);
    expect(kept.map((k) => k.runId)).toEqual(
      items
        .slice(-kept.length)
        .reverse()
        .map((k) => k.runId),
    );
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
