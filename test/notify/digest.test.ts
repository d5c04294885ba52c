// Who gets which app: owner addresses, per-recipient grouping, notifyAlso, unreachable failures.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildDigests,
  isEmailAddress,
  ownerAddress,
  shareIdenticalDigests,
  type Digest,
  type NotifiableApp,
  type OwnerObject,
} from '../../src/notify/digest.js';

const app = (over: Partial<NotifiableApp> & Pick<NotifiableApp, 'appId'>): NotifiableApp => ({
  displayName: `App ${over.appId}`,
  action: 'rotated',
  ownerAddresses: [],
  tagRecipients: [],
  ...over,
});

describe('isEmailAddress', () => {
  it.each([
    ['ann@contoso.com', true],
    ['Ann.Lee+rotator@mail.contoso.co.uk', true],
    ["o'brien@contoso.com", true],
    ['x@xn--bcher-kva.example', true],
    ['ann@contoso', false], // no dot in the domain
    ['ann@@contoso.com', false],
    ['@contoso.com', false],
    ['ann@', false],
    ['Ann Lee <ann@contoso.com>', false], // display names are not addresses
    ['ann lee@contoso.com', false],
    ['ann..lee@contoso.com', false],
    ['.ann@contoso.com', false],
    ['ann@-contoso.com', false],
    ['ann@contoso.c0m', false],
    ['ann@[10.0.0.1]', false],
    ['"ann"@contoso.com', false],
    ['ann@contoso.com\n', false],
    [`${'a'.repeat(65)}@contoso.com`, false],
    [`a@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(60)}.com`, false], // > 254
    ['', false],
  ])('%j → %s', (s, ok) => {
    expect(isEmailAddress(s)).toBe(ok);
  });
});

describe('ownerAddress', () => {
  const user = (over: Partial<OwnerObject>): OwnerObject => ({
    '@odata.type': '#microsoft.graph.user',
    id: 'u1',
    ...over,
  });
  it.each<[string, OwnerObject, string | undefined]>([
    [
      'mail first',
      user({ mail: 'ann@contoso.com', userPrincipalName: 'ann.lee@contoso.com' }),
      'ann@contoso.com',
    ],
    [
      'UPN when mail is empty',
      user({ mail: null, userPrincipalName: 'ann.lee@contoso.com' }),
      'ann.lee@contoso.com',
    ],
    [
      'UPN when mail is blank',
      user({ mail: '  ', userPrincipalName: 'ann.lee@contoso.com' }),
      'ann.lee@contoso.com',
    ],
    [
      'UPN when mail is not an address',
      user({ mail: 'ann', userPrincipalName: 'ann.lee@contoso.com' }),
      'ann.lee@contoso.com',
    ],
    ['mail trimmed', user({ mail: ' ann@contoso.com ' }), 'ann@contoso.com'],
    ['no UPN that is not an address', user({ mail: null, userPrincipalName: 'ann' }), undefined],
    [
      'no guest UPN (#EXT# is no mailbox)',
      user({ mail: null, userPrincipalName: 'ann_fabrikam.com#EXT#@contoso.onmicrosoft.com' }),
      undefined,
    ],
    [
      'guest with mail',
      user({ mail: 'ann@fabrikam.com', userPrincipalName: 'ann_fabrikam.com#EXT#@contoso.onmicrosoft.com' }),
      'ann@fabrikam.com',
    ],
    [
      'limited-information owner',
      user({ mail: null, userPrincipalName: null, displayName: null }),
      undefined,
    ],
    ['bare id only', { '@odata.type': '#microsoft.graph.user', id: 'u1' }, undefined],
    [
      'service principal',
      {
        '@odata.type': '#microsoft.graph.servicePrincipal',
        id: 'sp',
        displayName: 'x',
        mail: 'sp@contoso.com',
      } as OwnerObject,
      undefined,
    ],
    ['type missing (from /users)', { id: 'u1', mail: 'ann@contoso.com' }, 'ann@contoso.com'],
    [
      'type in another case',
      { '@odata.type': '#Microsoft.Graph.User', id: 'u1', mail: 'ann@contoso.com' },
      'ann@contoso.com',
    ],
  ])('%s', (_name, owner, expected) => {
    expect(ownerAddress(owner)).toBe(expected);
  });
});

describe('buildDigests: examples', () => {
  it('groups apps per recipient, deduplicating addresses case-insensitively, in stable order', () => {
    const a = app({ appId: 'a', ownerAddresses: ['ann@contoso.com', 'bob@contoso.com'] });
    const b = app({
      appId: 'b',
      ownerAddresses: ['BOB@contoso.com'],
      tagRecipients: ['team@contoso.com', 'bob@contoso.com'],
    });
    const { digests, unreachable } = buildDigests([a, b], []);
    expect(digests.map((d) => [d.to, d.apps.map((x) => x.appId)])).toEqual([
      ['ann@contoso.com', ['a']],
      ['bob@contoso.com', ['a', 'b']],
      ['team@contoso.com', ['b']],
    ]);
    expect(unreachable).toEqual([]);
  });

  it('sends every app to each notifyAlso address, once even when it is also an owner', () => {
    const a = app({ appId: 'a', ownerAddresses: ['ann@contoso.com'] });
    const b = app({ appId: 'b', action: 'reminder', ownerAddresses: ['Sec@contoso.com'] });
    const { digests, recipientsByApp } = buildDigests([a, b], ['sec@contoso.com']);
    expect(digests.map((d) => [d.to, d.apps.map((x) => x.appId)])).toEqual([
      ['ann@contoso.com', ['a']],
      ['sec@contoso.com', ['a', 'b']],
    ]);
    expect(recipientsByApp.get(a)).toEqual(['ann@contoso.com', 'sec@contoso.com']);
    expect(recipientsByApp.get(b)).toEqual(['sec@contoso.com']);
  });

  it('lets a failed app without owners reach notifyAlso, and reports it unreachable when there is none', () => {
    const lonely = app({ appId: 'f', action: 'failed', reason: 'x' });
    const quietRotation = app({ appId: 'r' });
    expect(buildDigests([lonely, quietRotation], ['sec@contoso.com']).digests).toEqual([
      { to: 'sec@contoso.com', apps: [lonely, quietRotation] },
    ]);
    const none = buildDigests([lonely, quietRotation], []);
    expect(none.digests).toEqual([]);
    expect(none.unreachable).toEqual([lonely]);
    expect(none.recipientsByApp.get(quietRotation)).toEqual([]);
  });

  it('drops addresses ACS would refuse instead of failing the whole message', () => {
    const a = app({
      appId: 'a',
      ownerAddresses: ['not an address', 'ann@contoso.com'],
      tagRecipients: ['x@y'],
    });
    expect(buildDigests([a], []).digests.map((d) => d.to)).toEqual(['ann@contoso.com']);
  });

  it('lists an app object passed twice only once', () => {
    const a = app({ appId: 'a', ownerAddresses: ['ann@contoso.com'] });
    expect(buildDigests([a, a], []).digests[0]!.apps).toEqual([a]);
  });
});

// Properties over random apps drawn from a small address pool (so recipients overlap, in mixed case).
const POOL = [
  'ann@contoso.com',
  'ANN@Contoso.com',
  'bob@fabrikam.net',
  'carol@contoso.com',
  'sec@contoso.com',
  'nope',
  'x@y',
];
const addr = fc.constantFrom(...POOL);
const appArb = fc.record({
  appId: fc.uuid(),
  displayName: fc.string({ maxLength: 20 }),
  action: fc.constantFrom('rotated' as const, 'failed' as const, 'reminder' as const),
  ownerAddresses: fc.array(addr, { maxLength: 4 }),
  tagRecipients: fc.array(addr, { maxLength: 3 }),
});
const input = fc.record({
  apps: fc.array(appArb, { maxLength: 12 }),
  notifyAlso: fc.array(addr, { maxLength: 3 }),
});
const key = (s: string) => s.trim().toLowerCase();
const validKeys = (list: string[]) => new Set(list.filter((s) => isEmailAddress(s.trim())).map(key));
const intended = (a: NotifiableApp, notifyAlso: string[]) =>
  validKeys([...a.ownerAddresses, ...a.tagRecipients, ...notifyAlso]);

describe('buildDigests: properties', () => {
  it('puts every app in each of its recipients’ digest exactly once', () => {
    fc.assert(
      fc.property(input, ({ apps, notifyAlso }) => {
        const { digests } = buildDigests(apps, notifyAlso);
        for (const a of apps) {
          for (const r of intended(a, notifyAlso)) {
            const d = digests.filter((x) => key(x.to) === r);
            expect(d).toHaveLength(1);
            expect(d[0]!.apps.filter((x) => x === a)).toHaveLength(1);
          }
        }
      }),
    );
  });

  it('never gives a recipient another recipient’s app unless it is on notifyAlso', () => {
    fc.assert(
      fc.property(input, ({ apps, notifyAlso }) => {
        for (const d of buildDigests(apps, notifyAlso).digests) {
          for (const a of d.apps) expect(intended(a, notifyAlso).has(key(d.to))).toBe(true);
        }
      }),
    );
  });

  it('makes one digest per distinct recipient, none empty', () => {
    fc.assert(
      fc.property(input, ({ apps, notifyAlso }) => {
        const { digests } = buildDigests(apps, notifyAlso);
        const all = new Set(apps.flatMap((a) => [...intended(a, notifyAlso)]));
        expect(digests).toHaveLength(all.size);
        expect(new Set(digests.map((d) => key(d.to))).size).toBe(digests.length);
        for (const d of digests) expect(d.apps.length).toBeGreaterThan(0);
      }),
    );
  });

  it('reports exactly the failed apps that reach nobody as unreachable', () => {
    fc.assert(
      fc.property(input, ({ apps, notifyAlso }) => {
        const { unreachable } = buildDigests(apps, notifyAlso);
        expect(unreachable).toEqual(
          apps.filter((a) => a.action === 'failed' && intended(a, notifyAlso).size === 0),
        );
      }),
    );
  });
});

describe('shareIdenticalDigests', () => {
  it('shares recipients whose digests render alike (distinct but equal apps too) and keeps digests, not renderings', () => {
    const digest = (to: string, ...ids: string[]): Digest => ({
      to,
      apps: ids.map((appId) => app({ appId })),
    });
    const digests = [digest('a@x.com', '1'), digest('b@x.com', '1', '2'), digest('c@x.com', '1')];
    const rendered: string[] = [];
    const messages = shareIdenticalDigests(digests, (d) => {
      rendered.push(d.to);
      return [d.apps.map((a) => a.displayName).join(','), ''];
    });
    expect(messages.map((m) => m.to)).toEqual([['a@x.com', 'c@x.com'], ['b@x.com']]);
    expect(messages.map((m) => m.content)).toEqual([digests[0], digests[1]]);
    expect(rendered).toEqual(['a@x.com', 'b@x.com', 'c@x.com']);
    // The parts are kept apart: ['ab', ''] and ['a', 'b'] are different messages.
    const split = shareIdenticalDigests([digest('a@x.com'), digest('b@x.com')], (d) =>
      d.to.startsWith('a') ? ['ab', ''] : ['a', 'b'],
    );
    expect(split).toHaveLength(2);
  });
});
