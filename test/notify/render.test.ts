// The message each recipient reads: subject counts, the facts per app, inert display names, no secrets.
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest, NotifiableApp } from '../../src/notify/digest.js';
import {
  cleanText,
  escapeHtml,
  renderDigest,
  subjectFor,
  versionlessSecretUri,
  type RenderContext,
} from '../../src/notify/render.js';
import { ARTIFACTS, launchBrowser, openHtml, screenshot } from '../status/browser.js';
import type { Browser } from 'playwright-core';

const ctx: RenderContext = {
  runId: 'run-2025-06-01',
  generatedAt: new Date('2025-06-01T03:00:00Z'),
  tenantId: '0c2a5b5e-7f0e-4a53-9c1e-2f9b3a1d6e00',
  productUrl: 'https://github.com/contoso/entra-secret-rotator',
};
const SECRET_URI = 'https://kv-rotator.vault.azure.net/secrets/app-1111/0123456789abcdef0123456789abcdef';
const rotated = (over: Partial<NotifiableApp> = {}): NotifiableApp => ({
  appId: '11111111-2222-3333-4444-555555555555',
  displayName: 'CRM Connector',
  action: 'rotated',
  keyId: 'aaaaaaaa-0000-0000-0000-000000000001',
  credentialName: 'entra-secret-rotator 2025-06-01',
  expiresOn: '2025-11-28T03:00:00.1234567Z',
  secretUri: SECRET_URI,
  oldKeyIds: ['bbbbbbbb-0000-0000-0000-000000000002'],
  oldSecretRetiresOn: '2025-06-08T03:00:00Z',
  ownerAddresses: ['ann@contoso.com'],
  tagRecipients: [],
  ...over,
});
const failed = (over: Partial<NotifiableApp> = {}): NotifiableApp => ({
  appId: '99999999-2222-3333-4444-555555555555',
  displayName: 'Payroll',
  action: 'failed',
  reason: 'the new secret did not work within 300 s (AADSTS7000215); it was removed',
  ownerAddresses: ['ann@contoso.com'],
  tagRecipients: [],
  ...over,
});
const reminder = (over: Partial<NotifiableApp> = {}): NotifiableApp => ({
  appId: '77777777-2222-3333-4444-555555555555',
  displayName: 'Legacy portal',
  action: 'reminder',
  reason: 'outside the rotation scope',
  expiring: [
    {
      kind: 'secret',
      keyId: 'cccccccc-0000-0000-0000-000000000003',
      displayName: 'prod',
      endDateTime: '2025-06-13T00:00:00Z',
    },
    {
      kind: 'certificate',
      keyId: 'dddddddd-0000-0000-0000-000000000004',
      displayName: 'CN=legacy',
      endDateTime: '2025-05-30T00:00:00Z',
    },
  ],
  ownerAddresses: ['ann@contoso.com'],
  tagRecipients: [],
  ...over,
});
const render = (...apps: NotifiableApp[]) => renderDigest({ to: 'ann@contoso.com', apps }, ctx);
/** The text a mail client shows for the HTML part: tags dropped, entities decoded. */
const visible = (html: string) =>
  html
    .replace(/<\/?span[^>]*>|<wbr>/g, '') // break hints inside a value are not spaces
    .replace(/<[^>]*>/g, ' ')
    .replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n)))
    .replace(/\s+/g, ' ');

describe('subject', () => {
  it.each<[NotifiableApp['action'][], string]>([
    [['rotated'], 'Entra app secrets: client secret rotated for "CRM Connector"'],
    [['rotated', 'rotated', 'failed'], 'Entra app secrets: 2 client secrets rotated, 1 failed'],
    [['failed'], 'Entra app secrets: rotation failed for "CRM Connector"'],
    [['failed', 'failed'], 'Entra app secrets: 2 rotations failed'],
    [['reminder'], 'Entra app secrets: "CRM Connector" has expiring credentials'],
    [['reminder', 'reminder'], 'Entra app secrets: 2 apps with expiring credentials'],
    [
      ['rotated', 'failed', 'reminder', 'reminder'],
      'Entra app secrets: 1 client secret rotated, 1 failed, 2 apps with expiring credentials',
    ],
    [[], 'Entra app secrets: nothing to report'],
  ])('%j → %s', (actions, subject) => {
    expect(subjectFor(actions.map((action) => rotated({ action })))).toBe(subject);
  });

  it('names the one app cleaned and cut short: no header injection, no bidi tricks, no essay', () => {
    const s = render(rotated({ displayName: 'Evil\r\nBcc: x@y.com\u202E' })).subject;
    expect(s).toBe('Entra app secrets: client secret rotated for "Evil  Bcc: x@y.com"');
    const long = render(failed({ displayName: 'x'.repeat(500) })).subject;
    expect(long).toBe(`Entra app secrets: rotation failed for "${'x'.repeat(59)}…"`);
    expect(render(failed({ displayName: '  ' })).subject).toBe(
      'Entra app secrets: rotation failed for 99999999-2222-3333-4444-555555555555',
    );
  });
});

describe('content', () => {
  it('marks a notice an earlier run could not deliver, in each section, in both parts', () => {
    const m = render(
      rotated({ heldSince: '2025-05-31T03:00:00Z' }),
      failed({ heldSince: '2025-05-30T03:00:00Z' }),
      reminder({ heldSince: 'not a date <b>' }),
    );
    for (const part of [m.plainText, visible(m.html)]) {
      expect(part).toMatch(
        /Delayed notice:? from the run of 2025-05-31 03:00 UTC; it could not be emailed then/,
      );
      expect(part).toContain('from the run of 2025-05-30 03:00 UTC');
      expect(part).toContain('from the run of not a date <b>');
    }
    expect(m.html).not.toContain('<b>');
    expect(render(rotated()).plainText).not.toContain('Delayed notice');
  });

  it('tells owners of a rotated app everything the contract lists, in both parts', () => {
    const m = render(rotated());
    for (const part of [m.plainText, visible(m.html)]) {
      expect(part).toContain('CRM Connector');
      expect(part).toContain('11111111-2222-3333-4444-555555555555');
      expect(part).toContain('aaaaaaaa-0000-0000-0000-000000000001');
      expect(part).toContain('entra-secret-rotator 2025-06-01');
      expect(part).toContain('2025-11-28 03:00 UTC'); // new expiry
      expect(part).toContain(SECRET_URI);
      expect(part).toContain('bbbbbbbb-0000-0000-0000-000000000002');
      expect(part).toContain('2025-06-08 03:00 UTC'); // retirement
      expect(part).toContain(
        '@Microsoft.KeyVault(SecretUri=https://kv-rotator.vault.azure.net/secrets/app-1111/)',
      );
      expect(part).toMatch(/switch to the new version before 2025-06-08 03:00 UTC/);
    }
  });

  it('says the old secret stays when it was not the rotator’s own', () => {
    const m = render(rotated({ oldSecretRetiresOn: undefined }));
    expect(m.plainText).toMatch(/Old secret removed: not by the rotator/);
    expect(m.plainText).toMatch(/before the old secret expires/);
  });

  it('does not promise an expired secret stays valid: nothing was superseded, consumers must switch now', () => {
    // The rotator supersedes only a valid current secret; an app whose secrets had all expired supersedes none.
    const m = render(rotated({ oldKeyIds: [], oldSecretRetiresOn: undefined }));
    for (const part of [m.plainText, visible(m.html)]) {
      expect(part).toMatch(
        /Old secret:? none still valid: every earlier client secret of this app had already expired/,
      );
      expect(part).not.toMatch(/stays valid|Replaces|before the old secret expires/);
      expect(part).toContain('switch to the new version now (the old secret no longer works)');
    }
  });

  it('gives failed apps the reason and what to do, failures first', () => {
    const m = render(rotated(), failed());
    expect(m.plainText.indexOf('Rotation failed')).toBeLessThan(m.plainText.indexOf('Client secret rotated'));
    for (const part of [m.plainText, visible(m.html)]) {
      expect(part).toContain('the new secret did not work within 300 s (AADSTS7000215); it was removed');
      expect(part).toContain('tries again on its next run');
    }
  });

  it('tells reminders what expires when', () => {
    const m = render(reminder());
    for (const part of [m.plainText, visible(m.html)]) {
      expect(part).toContain('Client secret "prod"');
      expect(part).toContain('expires 2025-06-13 00:00 UTC (in 11 days)');
      expect(part).toContain('Certificate "CN=legacy"');
      expect(part).toContain('(expired 2 days ago)');
      expect(part).toContain('outside the rotation scope');
    }
  });

  it('names the run, time and tenant, and links only an http(s) product URL', () => {
    const m = render(rotated());
    expect(m.plainText).toContain(
      'Run run-2025-06-01, 2025-06-01 03:00 UTC, tenant 0c2a5b5e-7f0e-4a53-9c1e-2f9b3a1d6e00.',
    );
    expect(m.html).toContain('href="https://github.com/contoso/entra-secret-rotator"');
    const js = renderDigest(
      { to: 'a@b.co', apps: [rotated()] },
      { ...ctx, productUrl: 'javascript:alert(1)' },
    );
    expect(js.html).not.toContain('javascript:');
    expect(js.html).not.toContain('href=');
  });

  it('is self-contained HTML: no scripts, no external images or styles', () => {
    const { html } = render(rotated(), failed(), reminder());
    expect(html).not.toMatch(/<script|<img|<link|<style|src=|url\(/i);
    expect(html).toMatch(/^<!DOCTYPE html>/);
  });

  it('keeps versionless references derivable', () => {
    expect(versionlessSecretUri(SECRET_URI)).toBe('https://kv-rotator.vault.azure.net/secrets/app-1111/');
    expect(versionlessSecretUri('https://kv/secrets/x')).toBe('https://kv/secrets/x/');
    expect(versionlessSecretUri('https://kv/keys/x/1')).toBeUndefined();
    expect(versionlessSecretUri('not a url')).toBeUndefined();
  });
});

describe('tenant values are inert', () => {
  const evil = `<img src=x onerror=alert(1)> "CRM" & Co`;

  it('escapes a hostile display name everywhere it appears in the HTML', () => {
    const m = render(
      rotated({ displayName: evil, credentialName: evil }),
      failed({ displayName: evil, reason: evil }),
      reminder({
        displayName: evil,
        expiring: [{ kind: 'secret', keyId: evil, displayName: evil, endDateTime: evil }],
      }),
    );
    expect(m.html).not.toContain('<img');
    expect(m.html).not.toContain('"CRM"');
    expect(m.html).toContain('&#60;img src=x onerror=alert(1)&#62; &#34;CRM&#34; &#38; Co');
    expect(visible(m.html)).toContain(evil); // readers still see the name as typed
    expect(m.plainText).toContain(evil);
  });

  it('keeps control and bidi characters from forging lines or disguising text', () => {
    const m = render(rotated({ displayName: 'CRM\r\n  New secret expires: never\u202Egnp.exe' }));
    expect(m.plainText).not.toMatch(/^\s*New secret expires: never/m);
    expect(m.plainText).not.toContain('\u202E');
    expect(m.html).not.toContain('\u202E');
  });

  it('escapes the five HTML-significant characters', () => {
    expect(escapeHtml(`<>&"'`)).toBe('&#60;&#62;&#38;&#34;&#39;');
  });

  // Every string the tenant controls, drawn from any code points with the HTML-significant ones boosted.
  const nasty = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc
      .array(fc.constantFrom('<', '>', '&', '"', "'", '<script>', '</td>', '<!--', 'a', ' '), {
        maxLength: 12,
      })
      .map((a) => a.join('')),
  );
  const hostileApp = fc.record({
    appId: nasty,
    displayName: nasty,
    action: fc.constantFrom('rotated' as const, 'failed' as const, 'reminder' as const),
    keyId: nasty,
    credentialName: nasty,
    expiresOn: nasty,
    secretUri: nasty,
    oldKeyIds: fc.array(nasty, { maxLength: 2 }),
    oldSecretRetiresOn: nasty,
    reason: nasty,
    expiring: fc.array(
      fc.record({
        kind: fc.constantFrom('secret' as const, 'certificate' as const),
        keyId: nasty,
        displayName: nasty,
        endDateTime: nasty,
      }),
      { maxLength: 2 },
    ),
    ownerAddresses: fc.constant<string[]>([]),
    tagRecipients: fc.constant<string[]>([]),
  });
  // Same shape, every tenant string replaced by a harmless one that is empty exactly when the cleaned original is.
  const tame = (a: NotifiableApp): NotifiableApp => {
    const t = (s: string | undefined) => (s === undefined ? s : cleanText(s) ? 'a' : '');
    return {
      ...a,
      appId: t(a.appId)!,
      displayName: t(a.displayName)!,
      keyId: t(a.keyId),
      credentialName: t(a.credentialName),
      expiresOn: t(a.expiresOn),
      secretUri: t(a.secretUri),
      oldKeyIds: a.oldKeyIds?.map((s) => t(s)!),
      oldSecretRetiresOn: t(a.oldSecretRetiresOn),
      reason: t(a.reason),
      expiring: a.expiring?.map((c) => ({
        ...c,
        keyId: t(c.keyId)!,
        displayName: t(c.displayName ?? undefined),
        endDateTime: t(c.endDateTime)!,
      })),
    };
  };

  it('never lets a `<` through from any tenant value (property)', () => {
    fc.assert(
      fc.property(fc.array(hostileApp, { minLength: 1, maxLength: 4 }), (apps) => {
        const d: Digest = { to: 'ann@contoso.com', apps };
        const { html, subject } = renderDigest(d, ctx);
        const tamed = renderDigest({ ...d, apps: apps.map(tame) }, ctx).html;
        // The markup is the template's alone: as many tags as with harmless values, and only known tags.
        // (Break hints inside values depend on their length and are the template's own markup.)
        const tags = (h: string) => h.replace(/<span style="white-space:nowrap;">|<\/span>|<wbr>/g, '');
        expect(tags(html).split('<').length).toBe(tags(tamed).split('<').length);
        expect(html).not.toMatch(
          /<(?!\/?(?:html|head|meta|title|body|table|tr|td|div|p|br|a|span|wbr)[\s>]|!DOCTYPE html>)/,
        );
        // eslint-disable-next-line no-control-regex -- control characters are what the subject must not carry
        expect(subject).not.toMatch(/[\u0000-\u001f\u202a-\u202e]/);
      }),
      { numRuns: 300 },
    );
  });
});

describe('secrets never appear', () => {
  it('does not render a secret even when the addPassword response is spread into the app by mistake', () => {
    const secretText = 'Xq8~Fh2.kLm9_Rt5sVw3-ZyPq7NbCd1EeGg0HhJj';
    const addPasswordResponse = {
      customKeyIdentifier: null,
      displayName: 'entra-secret-rotator 2025-06-01',
      endDateTime: '2025-11-28T03:00:00Z',
      keyId: 'aaaaaaaa-0000-0000-0000-000000000001',
      startDateTime: '2025-06-01T03:00:00Z',
      secretText,
      hint: secretText.slice(0, 3),
    };
    const app = { ...rotated(), ...addPasswordResponse } as NotifiableApp;
    const m = renderDigest({ to: 'ann@contoso.com', apps: [app, failed(), reminder()] }, ctx);
    for (const part of [m.subject, m.plainText, m.html]) {
      expect(part).not.toContain(secretText);
      expect(part).not.toContain(secretText.slice(0, 12));
    }
  });
});

describe('in a browser (Debian chromium), at 400 px', () => {
  let browser: Browser;
  beforeAll(async () => void (browser = await launchBrowser()), 60_000);
  afterAll(() => browser?.close());

  const long = {
    secretUri:
      'https://kv-rotator-production-westeurope.vault.azure.net/secrets/payroll-api-client-secret-for-the-nightly-export/0123456789abcdef0123456789abcdef',
  };

  it('never scrolls sideways and never breaks an identifier mid-word', async () => {
    const m = render(
      rotated(long),
      rotated({
        ...long,
        appId: '22222222-2222-3333-4444-555555555555',
        oldKeyIds: [],
        oldSecretRetiresOn: undefined,
      }),
      failed({ displayName: 'A'.repeat(120) }), // a name with no space at all still wraps
      reminder(),
    );
    writeFileSync(join(ARTIFACTS, 'email-400.html'), m.html);
    const page = await openHtml(browser, m.html, 400);
    const { scrollWidth, clientWidth } = await page.evaluate(() => {
      const el = (
        globalThis as unknown as {
          document: { scrollingElement: { scrollWidth: number; clientWidth: number } };
        }
      ).document.scrollingElement;
      return { scrollWidth: el.scrollWidth, clientWidth: el.clientWidth };
    });
    expect(clientWidth).toBe(400);
    expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
    // Every unbreakable piece (GUIDs, URL segments) sits on one line: one box each.
    const pieces = page.locator('span[style*="nowrap"]');
    const count = await pieces.count();
    expect(count).toBeGreaterThan(20);
    const boxes = await pieces.evaluateAll((els) =>
      els.map((e) => ({
        text: e.textContent,
        lines: (e as unknown as { getClientRects(): unknown[] }).getClientRects().length,
      })),
    );
    expect(boxes.filter((b) => b.lines !== 1)).toEqual([]);
    // The long Key Vault URI is still one value a reader can copy: its text is intact.
    expect(await page.locator('body').innerText()).toContain(long.secretUri);
    await screenshot(page, 'email-400.png');
    await page.close();
  });
});
