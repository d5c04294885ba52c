// ACS Email simulator against the real @azure/communication-email EmailClient: HMAC (connection string)
// and Entra (managed identity) auth, the long-running send, validation, idempotency and rate limits.
import { EmailClient, type EmailMessage } from '@azure/communication-email';
import { AzureKeyCredential } from '@azure/core-auth';
import { ManagedIdentityCredential } from '@azure/identity';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { signedFetch as signed, type SignedFetchOptions } from './acs/signed-fetch.js';
import { acsConnectionString, startSimCloud } from './cloud.js';

const cloud = await startSimCloud({ graphThrottling: false });
afterAll(() => cloud.stop());

const sender = `DoNotReply@${cloud.emailDomain}`;
const hmacClient = new EmailClient(acsConnectionString(cloud));
const message = (over: Partial<EmailMessage> = {}): EmailMessage => ({
  senderAddress: sender,
  content: {
    subject: 'Secret rotated: Payroll API',
    plainText: 'A new secret is in Key Vault.',
    html: '<p>rotated</p>',
  },
  recipients: { to: [{ address: 'alice@contoso.com', displayName: 'Alice' }] },
  ...over,
});
const restError = async (p: Promise<unknown>) => {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as { statusCode?: number; code?: string; message?: string } | undefined;
  if (!err) throw new Error('expected the call to fail');
  return err;
};

beforeEach(() => {
  cloud.mail.clear();
  cloud.mail.dropRecipients.clear();
  cloud.mail.messagesPerMinute = undefined;
  cloud.mail.messagesPerHour = undefined;
  cloud.mail.now = Date.now;
  cloud.mail.useDomainLimits(null);
  cloud.mail.runningForMs = 0;
  cloud.mail.operationIdReuse = 'existing';
  cloud.faults.clear();
  cloud.log.clear();
});

describe('ACS Email simulator: HMAC (connection string)', () => {
  it('sends through beginSend + pollUntilDone and records the message', async () => {
    const poller = await hmacClient.beginSend(
      message({
        recipients: { to: [{ address: 'alice@contoso.com' }], cc: [{ address: 'bob@contoso.com' }] },
      }),
    );
    const result = await poller.pollUntilDone();
    expect(result.status).toBe('Succeeded');
    expect(cloud.mail.messages).toHaveLength(1);
    const m = cloud.mail.messages[0]!;
    expect(m).toMatchObject({
      operationId: result.id,
      senderAddress: sender,
      to: ['alice@contoso.com'],
      cc: ['bob@contoso.com'],
      bcc: [],
      subject: 'Secret rotated: Payroll API',
      plainText: 'A new secret is in Key Vault.',
      html: '<p>rotated</p>',
      auth: 'hmac',
      dropped: false,
    });
    expect(cloud.mail.to('BOB@contoso.com')).toHaveLength(1);
    // Send, then Running once, then Succeeded.
    expect(cloud.log.count('acs.send', (e) => e.status === 202)).toBe(1);
    expect(cloud.log.count('acs.getOperation', (e) => e.status === 200)).toBeGreaterThanOrEqual(2);
  });

  it('answers 202 with an absolute Operation-Location, retry-after 0 and a Running body', async () => {
    const body = JSON.stringify(message());
    const res = await signedFetch('POST', '/emails:send?api-version=2025-09-01', body);
    expect(res.status).toBe(202);
    const loc = res.headers.get('operation-location')!;
    expect(loc.startsWith(`${cloud.origins.acs}/emails/operations/`)).toBe(true);
    expect(loc.endsWith('?api-version=2025-09-01')).toBe(true);
    expect(res.headers.get('retry-after')).toBe('0');
    const json = (await res.json()) as { id: string; status: string };
    expect(json.status).toBe('Running');
    const poll1 = await signedFetch('GET', new URL(loc).pathname + new URL(loc).search);
    expect(poll1.headers.get('retry-after')).toBe('0');
    expect(((await poll1.json()) as { status: string }).status).toBe('Running');
    const poll2 = await signedFetch('GET', new URL(loc).pathname + new URL(loc).search);
    expect(poll2.headers.get('retry-after')).toBeNull();
    expect(await poll2.json()).toEqual({ id: json.id, status: 'Succeeded' });
  });

  it('rejects a wrong access key with 401 Denied and sends nothing', async () => {
    const wrong = new EmailClient(
      cloud.origins.acs,
      new AzureKeyCredential(Buffer.alloc(32, 7).toString('base64')),
    );
    const err = await restError(wrong.beginSend(message()));
    expect(err.statusCode).toBe(401);
    expect(err.code).toBe('Denied');
    expect(cloud.mail.messages).toHaveLength(0);
  });

  it('rejects a body that does not match x-ms-content-sha256, and a stale x-ms-date', async () => {
    const body = JSON.stringify(message());
    const tampered = await signedFetch('POST', '/emails:send?api-version=2025-09-01', body, {
      sendBody: body.replace('Payroll', 'Payro11'),
    });
    expect(tampered.status).toBe(401);
    expect(tampered.headers.get('x-ms-error-code')).toBe('Denied');
    const stale = await signedFetch('POST', '/emails:send?api-version=2025-09-01', body, {
      date: new Date(Date.now() - 16 * 60_000),
    });
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { error: { message: string } }).error.message).toMatch(/skew/);
    const fresh = await signedFetch('POST', '/emails:send?api-version=2025-09-01', body, {
      date: new Date(Date.now() - 14 * 60_000),
    });
    expect(fresh.status).toBe(202);
  });

  it('makes pollUntilDone throw when the recipient is dropped', async () => {
    cloud.mail.dropRecipients.add('bounce@contoso.com');
    const poller = await hmacClient.beginSend(
      message({ recipients: { to: [{ address: 'Bounce@contoso.com' }] } }),
    );
    await expect(poller.pollUntilDone()).rejects.toThrow(/dropped|Failed/i);
    expect(cloud.mail.messages[0]?.dropped).toBe(true);
    expect(cloud.mail.to('bounce@contoso.com')).toHaveLength(0);
  });

  it('refuses a sender outside the linked domain (404 DomainNotLinked) and an unknown user name (400)', async () => {
    const notLinked = await restError(
      hmacClient.beginSend(message({ senderAddress: 'DoNotReply@contoso.com' })),
    );
    expect(notLinked).toMatchObject({ statusCode: 404, code: 'DomainNotLinked' });
    const badUser = await restError(
      hmacClient.beginSend(message({ senderAddress: `ceo@${cloud.emailDomain}` })),
    );
    expect(badUser).toMatchObject({ statusCode: 400, code: 'InvalidSenderUserName' });
    expect(cloud.mail.messages).toHaveLength(0);
  });

  it('validates the message like the service', async () => {
    const cases: Array<[string, EmailMessage]> = [
      ['no subject', message({ content: { subject: '', plainText: 'x' } })],
      ['no recipients', message({ recipients: { to: [] } })],
      ['bad address', message({ recipients: { to: [{ address: 'alice at contoso' }] } })],
      [
        '51 recipients',
        message({
          recipients: { to: Array.from({ length: 51 }, (_, i) => ({ address: `u${i}@contoso.com` })) },
        }),
      ],
      ['over 10 MB', message({ content: { subject: 's', plainText: 'x'.repeat(10 * 1024 * 1024 + 1) } })],
    ];
    for (const [name, m] of cases) {
      const err = await restError(hmacClient.beginSend(m));
      expect({ name, status: err.statusCode, code: err.code }).toEqual({
        name,
        status: 400,
        code: 'BadRequest',
      });
    }
    // bcc alone is enough
    const ok = await hmacClient.beginSend(
      message({ recipients: { to: [], bcc: [{ address: 'secops@contoso.com' }] } }),
    );
    expect((await ok.pollUntilDone()).status).toBe('Succeeded');
    expect(cloud.mail.messages).toHaveLength(1);
  });

  it('treats a repeated Operation-Id as the same send', async () => {
    const operationId = randomUUID();
    const a = await (await hmacClient.beginSend(message(), { operationId })).pollUntilDone();
    const b = await (await hmacClient.beginSend(message(), { operationId })).pollUntilDone();
    expect(a.id).toBe(operationId);
    expect(b.id).toBe(operationId);
    expect(b.status).toBe('Succeeded');
    expect(cloud.mail.messages).toHaveLength(1);
  });

  it('answers 429 with Retry-After beyond the per-minute limit; the SDK waits and retries', async () => {
    let clock = Date.now();
    cloud.mail.now = () => clock;
    cloud.mail.messagesPerMinute = 2;
    await (await hmacClient.beginSend(message())).pollUntilDone();
    clock += 1000;
    await (await hmacClient.beginSend(message())).pollUntilDone();

    // Without retries, the 429 surfaces with the seconds until the window has room.
    const noRetry = new EmailClient(acsConnectionString(cloud), { retryOptions: { maxRetries: 0 } });
    clock += 1000;
    const err = await restError(noRetry.beginSend(message()));
    expect(err).toMatchObject({ statusCode: 429, code: 'TooManyRequests' });
    const entry = cloud.log.entries.at(-1)!;
    expect(entry.status).toBe(429);
    expect(cloud.mail.throttled.perMinute).toBe(1);

    // The SDK's throttling retry honours Retry-After (here 1 s: the window frees 1 s later) and then succeeds.
    clock += 57_000; // the first send leaves the window at +60 s, 1 s from now
    const stop = cloud.log.on((e) => {
      if (e.op === 'acs.send' && e.status === 429) clock += 1_000;
    });
    const retried = await (await hmacClient.beginSend(message())).pollUntilDone();
    stop();
    expect(retried.status).toBe('Succeeded');
    // The SDK retried the refused send (429, then 202), rather than giving up.
    const sends = cloud.log.entries.filter((e) => e.op === 'acs.send').map((e) => e.status);
    expect(sends.slice(-2)).toEqual([429, 202]);
    expect(cloud.mail.throttled.perMinute).toBe(2);
    expect(cloud.mail.messages).toHaveLength(3);
  });

  it('has a per-hour limit as well', async () => {
    let clock = Date.now();
    cloud.mail.now = () => clock;
    cloud.mail.messagesPerHour = 1;
    const noRetry = new EmailClient(acsConnectionString(cloud), { retryOptions: { maxRetries: 0 } });
    await (await noRetry.beginSend(message())).pollUntilDone();
    clock += 10 * 60_000;
    const err = await restError(noRetry.beginSend(message()));
    expect(err.statusCode).toBe(429);
    const res = await signedFetch('POST', '/emails:send?api-version=2025-09-01', JSON.stringify(message()));
    expect(res.status).toBe(429);
    expect(res.headers.get('x-ms-error-code')).toBe('TooManyRequests');
    expect(Number(res.headers.get('retry-after'))).toBe(50 * 60);
    expect(cloud.mail.throttled.perHour).toBe(2);
  });
});

describe('ACS Email simulator: Entra (managed identity)', () => {
  process.env.IDENTITY_ENDPOINT = cloud.env.IDENTITY_ENDPOINT;
  process.env.IDENTITY_HEADER = cloud.env.IDENTITY_HEADER;
  const entraClient = new EmailClient(cloud.origins.acs, new ManagedIdentityCredential());

  it('sends with the rotator identity (scope https://communication.azure.com//.default)', async () => {
    const result = await (await entraClient.beginSend(message())).pollUntilDone();
    expect(result.status).toBe('Succeeded');
    expect(cloud.mail.messages[0]).toMatchObject({ auth: 'entra', callerOid: cloud.rotator.id });
  });

  it('refuses an identity without the sender role with 403', async () => {
    cloud.acsSenders.delete(cloud.rotator.id);
    try {
      const err = await restError(entraClient.beginSend(message()));
      expect(err.statusCode).toBe(403);
      expect(cloud.mail.messages).toHaveLength(0);
    } finally {
      cloud.acsSenders.add(cloud.rotator.id);
    }
  });

  it('refuses a token for another audience with 401', async () => {
    const token = await cloud.issuer.mint({
      aud: 'https://graph.microsoft.com',
      tid: cloud.tenant.tenantId,
      oid: cloud.rotator.id,
      appid: cloud.rotator.appId,
    });
    const res = await fetch(`${cloud.origins.acs}/emails:send?api-version=2025-09-01`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(message()),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-ms-error-code')).toBe('Denied');
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/audience/i);
  });
});

/** A hand-made HMAC request (the SDK's exact scheme), to probe headers and tampering. */
const signedFetch = (method: 'GET' | 'POST', path: string, body?: string, opts?: SignedFetchOptions) =>
  signed(cloud, method, path, body, opts);
