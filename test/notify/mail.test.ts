// The ACS mail adapter against the simulated ACS with the real EmailClient: HMAC and Entra auth,
// throttling absorbed within the run's wait budget, Operation-Id idempotency, dropped mail.
import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { describeMailError, Mailer, mailOperationId } from '../../src/azure/mail.js';
import { acsConnectionString, startSimCloud } from '../sim/cloud.js';

const cloud = await startSimCloud({ graphThrottling: false });
afterAll(() => cloud.stop());
process.env.IDENTITY_ENDPOINT = cloud.env.IDENTITY_ENDPOINT;
process.env.IDENTITY_HEADER = cloud.env.IDENTITY_HEADER;

const sender = cloud.env.EMAIL_SENDER!;
const noCredential: TokenCredential = {
  getToken: () => Promise.reject(new Error('HMAC tests must not ask for a token')),
};
const hmac = (opts: ConstructorParameters<typeof Mailer>[2] = {}) =>
  new Mailer({ connectionString: acsConnectionString(cloud), sender }, noCredential, {
    pollIntervalMs: 10,
    ...opts,
  });
const entra = (opts: ConstructorParameters<typeof Mailer>[2] = {}) =>
  new Mailer({ endpoint: cloud.origins.acs, sender }, new ManagedIdentityCredential(), {
    pollIntervalMs: 10,
    ...opts,
  });
const msg = {
  subject: 'Entra app secrets: 1 client secret rotated',
  plainText: 'text part',
  html: '<p>html part</p>',
};

beforeEach(() => {
  cloud.mail.clear();
  cloud.mail.dropRecipients.clear();
  cloud.mail.messagesPerMinute = undefined;
  cloud.mail.messagesPerHour = undefined;
  cloud.mail.now = Date.now;
  cloud.faults.clear();
  cloud.log.clear();
  cloud.acsSenders.add(cloud.rotator.id);
});

describe('mailOperationId', () => {
  it('is a stable UUID per (run, recipient), blind to address case', () => {
    const id = mailOperationId('run-1', 'Ann@Contoso.com');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(mailOperationId('run-1', 'ann@contoso.com')).toBe(id);
    expect(mailOperationId('run-2', 'ann@contoso.com')).not.toBe(id);
    expect(mailOperationId('run-1', 'bob@contoso.com')).not.toBe(id);
  });
});

describe('Mailer', () => {
  it('sends one message to one recipient with a connection string (HMAC)', async () => {
    const opId = mailOperationId('run-hmac', 'ann@contoso.com');
    const r = await hmac().send('ann@contoso.com', msg, opId);
    expect(r).toEqual({ to: 'ann@contoso.com', status: 'sent', operationId: opId });
    const [m, ...rest] = cloud.mail.to('ann@contoso.com');
    expect(rest).toEqual([]);
    expect(m).toMatchObject({
      operationId: opId,
      auth: 'hmac',
      senderAddress: sender,
      to: ['ann@contoso.com'],
      cc: [],
      bcc: [],
      subject: msg.subject,
      plainText: msg.plainText,
      html: msg.html,
    });
  });

  it('sends with the rotator’s own identity (Entra)', async () => {
    const r = await entra().send('bob@contoso.com', msg, mailOperationId('run-entra', 'bob@contoso.com'));
    expect(r.status).toBe('sent');
    expect(cloud.mail.to('bob@contoso.com')[0]).toMatchObject({ auth: 'entra', callerOid: cloud.rotator.id });
  });

  it('reports a missing ACS role as one line naming the cause', async () => {
    cloud.acsSenders.delete(cloud.rotator.id);
    const r = await entra().send('bob@contoso.com', msg, mailOperationId('run-403', 'bob@contoso.com'));
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/^ACS answered 403: Forbidden: The principal '.*' does not have permission/);
    expect(r.error).not.toContain('\n');
    expect(r.error).not.toContain(msg.html);
    expect(cloud.mail.messages).toEqual([]);
  });

  it('sends the same operationId twice as one message (a retried send is idempotent)', async () => {
    const mailer = hmac();
    const opId = mailOperationId('run-twice', 'ann@contoso.com');
    const a = await mailer.send('ann@contoso.com', msg, opId);
    const b = await mailer.send('ann@contoso.com', msg, opId);
    expect([a.status, b.status]).toEqual(['sent', 'sent']);
    expect(cloud.mail.to('ann@contoso.com')).toHaveLength(1);
    // The second send looked the operation up by its id and followed it: no POST, whatever ACS would answer.
    expect(cloud.log.count('acs.send')).toBe(1);
  });

  it.each(['commitThenReset', 'commitThenStatus'] as const)(
    'a send ACS accepted but whose answer was lost (%s) is followed, never POSTed again',
    async (kind) => {
      cloud.faults.add({ op: 'acs.send', kind, status: 500, times: 1 });
      const lines: string[] = [];
      const r = await hmac({ log: (l) => lines.push(l) }).send(
        'ann@contoso.com',
        msg,
        mailOperationId(`run-${kind}`, 'ann'),
      );
      expect(r.status).toBe('sent');
      expect(cloud.mail.to('ann@contoso.com')).toHaveLength(1);
      // One POST (the one that landed); the SDK's own retry of it was stopped and the operation looked up instead.
      expect(cloud.log.count('acs.send')).toBe(1);
      expect(cloud.log.count('acs.getOperation')).toBeGreaterThanOrEqual(2);
    },
  );

  it('a send found accepted after a lost answer counts as sent when its status reads are then throttled', async () => {
    // The POST lands but its answer is lost; the lookup that follows finds the operation Running; every later
    // status read is throttled past this run's wait budget. Reported failed, the notice would be held and told
    // again by the next run (the soak's told-once finding).
    cloud.faults.add({ op: 'acs.send', kind: 'commitThenReset', times: 1 });
    cloud.faults.add({ op: 'acs.getOperation', status: 429, retryAfterSeconds: 3600, after: 2 });
    const r = await hmac({ maxWaitMs: 1000 }).send(
      'ann@contoso.com',
      msg,
      mailOperationId('run-held', 'ann'),
    );
    expect(r.status).toBe('sent');
    expect(cloud.mail.to('ann@contoso.com')).toHaveLength(1);
    expect(cloud.log.count('acs.send')).toBe(1);
    expect(cloud.log.count('acs.getOperation', (e) => e.status === 429)).toBeGreaterThan(0);
  });

  it('a poll that never answers is abandoned after the request deadline and the send still completes once', async () => {
    cloud.faults.add({ op: 'acs.getOperation', kind: 'hang', times: 1 });
    const r = await hmac({ requestTimeoutMs: 500 }).send(
      'ann@contoso.com',
      msg,
      mailOperationId('run-hang', 'ann'),
    );
    expect(r.status).toBe('sent');
    expect(cloud.log.count('acs.send')).toBe(1);
    expect(cloud.mail.to('ann@contoso.com')).toHaveLength(1);
  });

  it('a send refused with a server error before it was accepted is sent once, after looking', async () => {
    cloud.faults.fail('acs.send', 500, 1);
    const r = await hmac().send('ann@contoso.com', msg, mailOperationId('run-500', 'ann'));
    expect(r.status).toBe('sent');
    expect(cloud.mail.to('ann@contoso.com')).toHaveLength(1);
    expect(cloud.log.count('acs.send')).toBe(2); // the refused one, then one after the lookup found nothing
  });

  it('absorbs a 429 burst longer than the SDK’s own retries, within the wait budget', async () => {
    cloud.faults.fail('acs.send', 429, 5, { retryAfterSeconds: 0 });
    const lines: string[] = [];
    const r = await hmac({ log: (l) => lines.push(l) }).send(
      'ann@contoso.com',
      msg,
      mailOperationId('run-burst', 'ann'),
    );
    expect(r.status).toBe('sent');
    expect(cloud.log.count('acs.send', (e) => e.status === 429)).toBe(5);
    expect(cloud.mail.to('ann@contoso.com')).toHaveLength(1);
    expect(lines.filter((l) => l.includes('throttled'))).toHaveLength(5);
  });

  it('absorbs throttled polls by resuming the same operation, without a second message', async () => {
    cloud.faults.fail('acs.getOperation', 429, 5, { retryAfterSeconds: 0 });
    const r = await hmac().send('ann@contoso.com', msg, mailOperationId('run-poll429', 'ann'));
    expect(r.status).toBe('sent');
    expect(cloud.mail.messages).toHaveLength(1);
  });

  it('waits Retry-After while the budget lasts, then reports failed and leaves the rest for the next run', async () => {
    cloud.faults.fail('acs.send', 429, 5, { retryAfterSeconds: 1 });
    const mailer = hmac({ maxWaitMs: 1_500 });
    const r = await mailer.send('ann@contoso.com', msg, mailOperationId('run-budget', 'ann'));
    expect(r.status).toBe('failed');
    expect(r.error).toBe('ACS throttled the send (429) for longer than this run may wait; it stays pending');
    // Two sends: one wait of 1 s fitted the 1.5 s budget, the second did not (no third attempt). No clock is read
    // here: a timed assertion fails on a busy machine (issue 16).
    expect(cloud.log.count('acs.send')).toBe(2);
    expect(mailer.remainingWaitMs).toBe(0);
    // The budget is per run: the same Mailer does not wait again, but an unthrottled send still goes.
    cloud.faults.clear();
    expect((await mailer.send('bob@contoso.com', msg, mailOperationId('run-budget', 'bob'))).status).toBe(
      'sent',
    );
  });

  it('meets the managed domain’s rate limit: over budget now, sent by the next run with the same operationId', async () => {
    let clock = Date.now();
    cloud.mail.now = () => clock;
    cloud.mail.messagesPerMinute = 2;
    const mailer = hmac({ maxWaitMs: 0 });
    const to = ['a@contoso.com', 'b@contoso.com', 'c@contoso.com'];
    const results = [];
    for (const addr of to) results.push(await mailer.send(addr, msg, mailOperationId('run-rate', addr)));
    expect(results.map((r) => r.status)).toEqual(['sent', 'sent', 'failed']);
    expect(cloud.mail.throttled.perMinute).toBe(1);
    clock += 61_000;
    const retry = await hmac({ maxWaitMs: 0 }).send('c@contoso.com', msg, results[2]!.operationId);
    expect(retry.status).toBe('sent');
    expect(cloud.mail.messages.map((m) => m.to[0])).toEqual(to);
  });

  it('reports a dropped recipient as failed with the service’s reason', async () => {
    cloud.mail.dropRecipients.add('gone@contoso.com');
    const r = await hmac().send('gone@contoso.com', msg, mailOperationId('run-drop', 'gone@contoso.com'));
    expect(r.status).toBe('failed');
    expect(r.error).toBe(
      'ACS did not deliver: EmailDropped. Email was dropped after several attempts to deliver.',
    );
  });

  it('reports a sender on an unlinked domain', async () => {
    const m = new Mailer(
      { connectionString: acsConnectionString(cloud), sender: 'DoNotReply@other.example' },
      noCredential,
    );
    const r = await m.send('ann@contoso.com', msg, mailOperationId('run-domain', 'ann'));
    expect(r).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^ACS answered 404: DomainNotLinked: /),
    });
  });

  it('refuses a message ACS would refuse for its size without sending it', async () => {
    const big = { ...msg, html: 'x'.repeat(10 * 1024 * 1024) };
    const r = await hmac().send('ann@contoso.com', big, mailOperationId('run-big', 'ann'));
    expect(r).toMatchObject({ status: 'failed', error: 'message too large for ACS (10.0 MB)' });
    expect(cloud.log.count('acs.send')).toBe(0);
  });

  it('needs an endpoint or a connection string', () => {
    expect(() => new Mailer({ sender }, noCredential)).toThrow(/ACS_ENDPOINT nor ACS_CONNECTION_STRING/);
  });
});

describe('describeMailError', () => {
  it.each<[unknown, string]>([
    [
      Object.assign(new Error('Denied by the resource provider.\nmore detail'), {
        statusCode: 401,
        code: 'Denied',
      }),
      'ACS answered 401: Denied: Denied by the resource provider.',
    ],
    [Object.assign(new Error('boom'), { code: 'ECONNREFUSED' }), 'ECONNREFUSED: boom'],
    [
      Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' }),
      'timed out waiting for ACS to finish the send operation',
    ],
    [
      Object.assign(new Error('ManagedIdentityCredential: Authentication failed.\nlong text'), {
        name: 'CredentialUnavailableError',
      }),
      'no token for ACS (CredentialUnavailableError): ManagedIdentityCredential: Authentication failed.',
    ],
    ['plain string', 'plain string'],
  ])('%#', (e, line) => {
    expect(describeMailError(e)).toBe(line);
  });
});
