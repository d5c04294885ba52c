// One clock for the whole simulated cloud (issue 17 §1): moving it forward by days, in milliseconds, moves
// credential validity, replication delay, Key Vault timestamps and ACS rate windows together, seen through the
// real SDKs.
import { EmailClient } from '@azure/communication-email';
import { ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { SimClock } from './clock.js';
import { acsConnectionString, startSimCloud } from './cloud.js';

for (const k of ['AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_TENANT_ID', 'AZURE_FEDERATED_TOKEN_FILE']) {
  delete process.env[k];
}
const clock = new SimClock();
const cloud = await startSimCloud({ clock, replicationDelayMs: 0 });
process.env.IDENTITY_ENDPOINT = cloud.env.IDENTITY_ENDPOINT;
process.env.IDENTITY_HEADER = cloud.env.IDENTITY_HEADER;
afterAll(() => cloud.stop());

const DAY = 86_400_000;
const tid = cloud.tenant.tenantId;
const graphScope = `${cloud.origins.graph}/.default`;
const signIn = (clientId: string, secret: string) =>
  new ClientSecretCredential(tid, clientId, secret, {
    authorityHost: cloud.origins.entra,
    disableInstanceDiscovery: true,
  }).getToken(graphScope);
const vault = new SecretClient(cloud.origins.keyvault, new ManagedIdentityCredential(), {
  disableChallengeResourceVerification: true,
  retryOptions: { maxRetries: 0 },
});

describe('SimClock', () => {
  it('follows real time by default and moves forward on advance()', () => {
    const c = new SimClock();
    expect(Math.abs(c.skewMs())).toBeLessThan(1000);
    c.advance(3 * DAY);
    expect(c.skewMs()).toBeGreaterThanOrEqual(3 * DAY - 1000);
    expect(() => c.advance(-1)).toThrow(/non-negative/);
  });

  it('when frozen, moves only on advance() or set(), and sleep() resolves when it is moved past', async () => {
    const c = new SimClock({ start: Date.parse('2030-01-01T00:00:00Z'), frozen: true });
    expect(c.now().toISOString()).toBe('2030-01-01T00:00:00.000Z');
    let woke = false;
    const sleeping = c.sleep(DAY).then(() => (woke = true));
    c.advance(DAY - 1);
    await Promise.resolve();
    expect(woke).toBe(false);
    c.set(Date.parse('2030-01-02T00:00:00Z'));
    await sleeping;
    expect(woke).toBe(true);
  });

  it('an advance cuts a real-time sleep short', async () => {
    const c = new SimClock();
    const sleeping = c.sleep(10 * DAY);
    c.advance(10 * DAY);
    await expect(sleeping).resolves.toBeUndefined();
  });
});

describe('the simulated cloud on one clock', () => {
  it('credentials expire when the cloud moves past their end date', async () => {
    const app = cloud.tenant.addApplication({
      displayName: `clock-${randomUUID().slice(0, 8)}`,
      passwords: [{ startDateTime: clock.now(), endDateTime: new Date(clock.nowMs() + 2 * DAY) }],
    });
    const secret = app.passwordCredentials[0]!.secretText;
    expect(await signIn(app.appId, secret)).toBeTruthy();
    clock.advance(3 * DAY);
    await expect(signIn(app.appId, secret)).rejects.toThrow(/AADSTS7000222/);
  });

  it('replication delay is measured on the cloud clock: advancing it replicates a new secret', async () => {
    const app = cloud.tenant.addApplication({ displayName: `clock-${randomUUID().slice(0, 8)}` });
    cloud.tenant.replicationDelayMs = 10 * 60_000;
    try {
      const fresh = cloud.tenant.issuePassword(app, { displayName: 'new' });
      expect(fresh.startDateTime.slice(0, 16)).toBe(clock.now().toISOString().slice(0, 16));
      await expect(signIn(app.appId, fresh.secretText)).rejects.toThrow(/AADSTS7000215/);
      clock.advance(10 * 60_000);
      expect(await signIn(app.appId, fresh.secretText)).toBeTruthy();
    } finally {
      cloud.tenant.replicationDelayMs = 0;
    }
  });

  it('Key Vault stamps versions with the cloud clock, and a cached token survives an advance', async () => {
    const name = `clock-${randomUUID().slice(0, 8)}`;
    const before = clock.nowSeconds() * 1000; // Key Vault stamps whole seconds
    const first = await vault.setSecret(name, 'v1');
    const stamped = first.properties.createdOn!.getTime();
    expect(stamped >= before && stamped <= clock.nowMs()).toBe(true); // during the call, by the cloud clock
    clock.advance(30 * DAY);
    // The SDK still holds the managed-identity token it cached by real time; the vault accepts it.
    const second = await vault.setSecret(name, 'v2');
    const gap = second.properties.createdOn!.getTime() - first.properties.createdOn!.getTime();
    expect(gap).toBeGreaterThanOrEqual(30 * DAY - 1000);
    expect(cloud.vault.latest(name)?.createdOn).toEqual(second.properties.createdOn);
  });

  it('ACS rate windows move with the clock', async () => {
    const email = new EmailClient(acsConnectionString(cloud), { retryOptions: { maxRetries: 0 } });
    const send = () =>
      email.beginSend({
        senderAddress: `DoNotReply@${cloud.emailDomain}`,
        content: { subject: 'clock', plainText: 'tick' },
        recipients: { to: [{ address: 'ops@contoso.com' }] },
      });
    cloud.mail.messagesPerMinute = 1;
    try {
      await (await send()).pollUntilDone();
      await expect(send()).rejects.toMatchObject({ statusCode: 429 });
      clock.advance(61_000);
      expect((await (await send()).pollUntilDone()).status).toBe('Succeeded');
    } finally {
      cloud.mail.messagesPerMinute = undefined;
    }
  });
});
