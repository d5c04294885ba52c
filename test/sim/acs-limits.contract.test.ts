// ACS Email behaviours that the product must be tested against (issue 14 §1): the documented rate limits of an
// Azure-managed and a custom domain (send and status, per minute and per hour, 429 + Retry-After), the recipients
// limit, sends that stay Running for a while, and each answer to a reused Operation-Id.
import { EmailClient, type EmailMessage } from '@azure/communication-email';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ACS_DOCUMENTED_LIMITS } from './acs.js';
import { signedFetch } from './acs/signed-fetch.js';
import { SimClock } from './clock.js';
import { acsConnectionString, startSimCloud } from './cloud.js';

const clock = new SimClock();
const cloud = await startSimCloud({ clock, acsDomainKind: 'azure-managed', acsSendRunningMs: 3000 });
afterAll(() => cloud.stop());

const API = 'api-version=2025-09-01';
const message = (to = 'alice@contoso.com'): EmailMessage => ({
  senderAddress: `DoNotReply@${cloud.emailDomain}`,
  content: { subject: 'Secret rotated', plainText: 'A new secret is in Key Vault.' },
  recipients: { to: [{ address: to }] },
});
const send = (body: EmailMessage = message(), headers: Record<string, string> = {}) =>
  signedFetch(cloud, 'POST', `/emails:send?${API}`, JSON.stringify(body), { headers });
const poll = (id: string) => signedFetch(cloud, 'GET', `/emails/operations/${id}?${API}`);
const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

beforeEach(() => {
  cloud.mail.clear();
  cloud.mail.useDomainLimits('azure-managed');
  cloud.mail.runningForMs = 3000;
  cloud.mail.operationIdReuse = 'existing';
  clock.advance(2 * 3_600_000); // every window starts empty
});

describe('ACS rate limits by domain kind (service-limits.md, "Rate Limits for Email")', () => {
  it('uses the documented figures', () => {
    expect(ACS_DOCUMENTED_LIMITS).toEqual({
      'azure-managed': { sendPerMinute: 5, sendPerHour: 10, statusPerMinute: 10, statusPerHour: 20 },
      custom: { sendPerMinute: 30, sendPerHour: 100, statusPerMinute: 60, statusPerHour: 200 },
    });
  });

  it('an Azure-managed domain sends 5 a minute and 10 an hour, then 429 with Retry-After', async () => {
    for (let i = 0; i < 5; i++) expect((await send()).status).toBe(202);
    const sixth = await send();
    expect(sixth.status).toBe(429);
    expect(sixth.headers.get('x-ms-error-code')).toBe('TooManyRequests');
    expect(await errorCode(sixth)).toBe('TooManyRequests');
    const wait = Number(sixth.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60);

    // After Retry-After the oldest send has left the minute (the others, sent a little later on a busy machine, may
    // not have yet: a sliding window); a minute on, all have.
    clock.advance(wait * 1000);
    expect((await send()).status).toBe(202);
    clock.advance(61_000);
    for (let i = 0; i < 4; i++) expect((await send()).status).toBe(202);
    clock.advance(61_000);
    const eleventh = await send();
    expect(eleventh.status).toBe(429);
    expect(Number(eleventh.headers.get('retry-after'))).toBeGreaterThan(60);
    expect(cloud.mail.messages).toHaveLength(10);
    expect(cloud.mail.throttled).toMatchObject({ perMinute: 1, perHour: 1 });
  });

  it('a custom domain sends 30 a minute', async () => {
    cloud.mail.useDomainLimits('custom');
    for (let i = 0; i < 30; i++) expect((await send()).status).toBe(202);
    expect((await send()).status).toBe(429);
    expect(cloud.mail.throttled.perMinute).toBe(1);
  });

  it('limits Get Email Status too: 10 a minute on an Azure-managed domain', async () => {
    const id = ((await (await send()).json()) as { id: string }).id;
    for (let i = 0; i < 10; i++) expect((await poll(id)).status).toBe(200);
    const refused = await poll(id);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(cloud.mail.throttled.status).toBe(1);
    clock.advance(60_000);
    expect((await poll(id)).status).toBe(200);
  });
});

describe('ACS recipients per message', () => {
  it('accepts 50 recipients (To, Cc and Bcc together) and refuses 51 with 400', async () => {
    const list = (n: number, p: string) =>
      Array.from({ length: n }, (_, i) => ({ address: `${p}${i}@contoso.com` }));
    cloud.mail.useDomainLimits(null);
    const fifty = { ...message(), recipients: { to: list(20, 't'), cc: list(20, 'c'), bcc: list(10, 'b') } };
    expect((await send(fifty)).status).toBe(202);
    const res = await send({ ...fifty, recipients: { ...fifty.recipients, bcc: list(11, 'b') } });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('BadRequest');
    expect(cloud.mail.messages).toHaveLength(1);
  });
});

describe('ACS sends that take time', () => {
  it('stays Running until acsSendRunningMs have passed on the cloud clock, then Succeeded', async () => {
    const res = await send();
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    for (let i = 0; i < 3; i++) {
      const p = await poll(id);
      expect(await p.json()).toEqual({ id, status: 'Running' });
    }
    clock.advance(3000);
    expect(await (await poll(id)).json()).toEqual({ id, status: 'Succeeded' });
  });

  it("a dropped recipient's send ends Failed after running", async () => {
    cloud.mail.dropRecipients.add('bounce@contoso.com');
    const { id } = (await (await send(message('bounce@contoso.com'))).json()) as { id: string };
    expect(((await (await poll(id)).json()) as { status: string }).status).toBe('Running');
    clock.advance(3000);
    expect(await (await poll(id)).json()).toMatchObject({
      status: 'Failed',
      error: { code: 'EmailDropped' },
    });
  });

  it('the SDK poller polls more than once for a running send', async () => {
    cloud.mail.useDomainLimits(null);
    cloud.mail.runningForMs = 400; // real time passes too: the clock follows it
    const client = new EmailClient(acsConnectionString(cloud));
    const poller = await client.beginSend(message(), { updateIntervalInMs: 100 });
    const result = await poller.pollUntilDone();
    expect(result.status).toBe('Succeeded');
    expect(cloud.log.count('acs.getOperation', (e) => e.status === 200)).toBeGreaterThanOrEqual(2);
  });
});

describe('ACS: a send that reuses an Operation-Id (undocumented: each answer is selectable)', () => {
  const reuse = async () => {
    cloud.mail.useDomainLimits(null);
    const operationId = randomUUID();
    const first = await send(message(), { 'operation-id': operationId });
    expect(first.status).toBe(202);
    return { operationId, second: await send(message('bob@contoso.com'), { 'operation-id': operationId }) };
  };

  it("'existing' answers 202 with the existing operation and sends nothing", async () => {
    const { operationId, second } = await reuse();
    expect(second.status).toBe(202);
    expect(await second.json()).toEqual({ id: operationId, status: 'Running' });
    expect(cloud.mail.messages).toHaveLength(1);
  });

  it("'conflict' answers 409 and sends nothing", async () => {
    cloud.mail.operationIdReuse = 'conflict';
    const { second } = await reuse();
    expect(second.status).toBe(409);
    expect(await errorCode(second)).toBe('Conflict');
    expect(cloud.mail.messages).toHaveLength(1);
  });

  it("'new' sends again under the same id", async () => {
    cloud.mail.operationIdReuse = 'new';
    const { operationId, second } = await reuse();
    expect(second.status).toBe(202);
    expect(cloud.mail.messages.map((m) => [m.operationId, m.to[0]])).toEqual([
      [operationId, 'alice@contoso.com'],
      [operationId, 'bob@contoso.com'],
    ]);
  });
});
