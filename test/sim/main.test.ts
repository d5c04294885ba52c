// The simulated cloud as a separate process (test/sim/main.ts), and the seed tenants it serves.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { EmailClient } from '@azure/communication-email';
import { ManagedIdentityCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimCloud } from './cloud.js';
import { seedDemoTenant, seedLargeTenant } from './seed.js';

interface Ready {
  ready: true;
  env: Record<string, string>;
  control: string;
  tenantId: string;
}

const DAY = 86_400_000;
const children = new Set<ChildProcessWithoutNullStreams>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts main.ts with tsx's loader and resolves with its ready line. */
async function startSim(
  args: string[] = [],
): Promise<{ child: ChildProcessWithoutNullStreams; ready: Ready }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/sim/main.ts', ...args], {
    cwd: process.cwd(),
    env: process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`sim exited with ${code} before it was ready: ${stderr}`)));
  });
  return { child, ready: JSON.parse(line) as Ready };
}

const exited = (child: ChildProcessWithoutNullStreams) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

const get = async <T>(ready: Ready, path: string): Promise<T> => {
  const res = await fetch(`${ready.control}${path}`);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
};
const post = (ready: Ready, path: string, body?: unknown) =>
  fetch(`${ready.control}${path}`, {
    method: 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe('simulated cloud process (main.ts)', () => {
  it('starts with the demo seed, serves the control API and shuts down on request', async () => {
    const { child, ready } = await startSim(['--seed', 'demo', '--latency', 'acs=1,graph=1']);
    expect(ready.ready).toBe(true);
    expect(ready.tenantId).toMatch(/^[0-9a-f-]{36}$/);
    for (const k of [
      'AZURE_AUTHORITY_HOST',
      'GRAPH_ENDPOINT',
      'KEY_VAULT_URL',
      'ACS_ENDPOINT',
      'EMAIL_SENDER',
      'IDENTITY_ENDPOINT',
      'IDENTITY_HEADER',
      'API_AUDIENCE',
      'ALLOW_CUSTOM_ENDPOINTS',
    ]) {
      expect(ready.env[k], k).toBeTruthy();
    }

    const apps = await get<
      Array<{ displayName: string; passwordCredentials: Array<Record<string, unknown>> }>
    >(ready, '/apps');
    expect(apps).toHaveLength(12);
    expect(apps.map((a) => a.displayName)).toContain('Payroll API');
    const secrets = await get<string[]>(ready, '/issued-secrets');
    expect(secrets.length).toBeGreaterThanOrEqual(14);
    const appsText = JSON.stringify(apps);
    const vaultText = JSON.stringify(await get<unknown>(ready, '/vault'));
    for (const s of secrets) {
      expect(appsText.includes(s)).toBe(false);
      expect(vaultText.includes(s)).toBe(false);
    }
    expect(appsText).not.toContain('secretText');

    // A fault set through the control API shows on the wire and in /stats.
    const fault = await post(ready, '/faults', {
      op: 'acs.send',
      status: 503,
      times: 1,
      retryAfterSeconds: 0,
    });
    expect(fault.status).toBe(200);
    const send = await fetch(`${ready.env.ACS_ENDPOINT}/emails:send?api-version=2025-09-01`, {
      method: 'POST',
      body: '{}',
    });
    expect(send.status).toBe(503);
    expect(send.headers.get('x-ms-error-code')).toBe('ServiceUnavailable');
    const unauth = await fetch(`${ready.env.ACS_ENDPOINT}/emails:send?api-version=2025-09-01`, {
      method: 'POST',
      body: '{}',
    });
    expect(unauth.status).toBe(401);
    const stats = await get<{
      requests: Record<string, Record<string, Record<string, number>>>;
      emailsSent: number;
      replicationDelayMs: number;
    }>(ready, '/stats');
    expect(stats.requests.acs?.['acs.send']).toEqual({ 401: 1, 503: 1 });
    // The demo tenant replicates new secrets after a few hundred ms, so a proof always waits.
    expect(stats.replicationDelayMs).toBe(300);
    expect(stats.emailsSent).toBe(0);
    expect(await get<unknown[]>(ready, '/mail')).toEqual([]);
    expect((await post(ready, '/faults', { kind: 'explode', op: 'x' })).status).toBe(400);

    // The real SDKs in this process, against the cloud in the child, with the env from the ready line.
    process.env.IDENTITY_ENDPOINT = ready.env.IDENTITY_ENDPOINT;
    process.env.IDENTITY_HEADER = ready.env.IDENTITY_HEADER;
    const credential = new ManagedIdentityCredential();
    const kv = new SecretClient(ready.env.KEY_VAULT_URL!, credential, {
      disableChallengeResourceVerification: true,
    });
    await kv.setSecret('payroll-api-client-secret', 'not-a-real-secret-value', {
      tags: { appId: 'a', keyId: 'k' },
    });
    const vault = await get<{ secrets: Record<string, Array<Record<string, unknown>>> }>(ready, '/vault');
    expect(vault.secrets['payroll-api-client-secret']?.[0]).toMatchObject({
      tags: { appId: 'a', keyId: 'k' },
    });
    expect(JSON.stringify(vault)).not.toContain('not-a-real-secret-value');
    expect(await get<string[]>(ready, '/issued-secrets')).toContain('not-a-real-secret-value');
    const mail = new EmailClient(ready.env.ACS_ENDPOINT!, credential);
    await (
      await mail.beginSend({
        senderAddress: ready.env.EMAIL_SENDER!,
        content: { subject: 'hello', plainText: 'hi' },
        recipients: { to: [{ address: 'alice@contoso.com' }] },
      })
    ).pollUntilDone();
    expect(await get<Array<{ to: string[] }>>(ready, '/mail')).toMatchObject([{ to: ['alice@contoso.com'] }]);
    expect((await get<{ emailsSent: number }>(ready, '/stats')).emailsSent).toBe(1);

    expect((await post(ready, '/reset-stats')).status).toBe(200);
    expect((await get<{ totalRequests: number }>(ready, '/stats')).totalRequests).toBe(0);

    expect((await post(ready, '/shutdown')).status).toBe(200);
    expect(await exited(child)).toBe(0);
  });

  it('exits when its parent closes stdin, and on SIGTERM', async () => {
    const a = await startSim(['--seed', 'none']);
    a.child.stdin.end();
    expect(await exited(a.child)).toBe(0);
    const b = await startSim(['--seed', 'none']);
    b.child.kill('SIGTERM');
    expect(await exited(b.child)).toBe(0);
  });

  it('serves a large seed and refuses bad arguments with exit code 2', async () => {
    const { child, ready } = await startSim([
      '--seed',
      'large',
      '--apps',
      '2000',
      '--due-percent',
      '10',
      '--acs-per-minute',
      '5',
    ]);
    const apps = await get<Array<{ passwordCredentials: Array<{ endDateTime: string }> }>>(ready, '/apps');
    expect(apps).toHaveLength(2000);
    const due = apps.filter((a) => Date.parse(a.passwordCredentials[0]!.endDateTime) < Date.now() + 30 * DAY);
    expect(due).toHaveLength(200);
    child.kill('SIGTERM');
    await exited(child);

    const bad = spawn(process.execPath, ['--import', 'tsx', 'test/sim/main.ts', '--seed', 'huge'], {
      stdio: 'pipe',
    });
    let out = '';
    bad.stdout.on('data', (d: Buffer) => (out += d.toString()));
    expect(await new Promise((r) => bad.once('exit', r))).toBe(2);
    expect(out).toBe('');
  });
});

describe('seed tenants', () => {
  it('seeds the demo tenant with every state the rotator handles', async () => {
    const cloud = await startSimCloud({ graphThrottling: false });
    try {
      const now = new Date('2030-01-01T00:00:00Z');
      const { apps, users } = seedDemoTenant(cloud, now);
      const endsIn = (app: { passwordCredentials: Array<{ endDateTime: string }> }) =>
        app.passwordCredentials.map((p) => Math.round((Date.parse(p.endDateTime) - now.getTime()) / DAY));
      expect(endsIn(apps.due)).toEqual([10]);
      expect(endsIn(apps.expired).every((d) => d < 0)).toBe(true);
      expect(endsIn(apps.upToDate)).toEqual([200]);
      expect(endsIn(apps.twoSecrets)).toEqual([5, 300]);
      expect(apps.disabled.tags).toEqual(['rotation:disabled']);
      expect(apps.malformedTag.tags).toEqual(['rotation:renewBeforeDays=soon']);
      expect(apps.unknownTag.tags).toEqual(['rotation:lifetimedays=90']);
      expect(apps.customName.tags).toContain('rotation:secretName=payroll-api-client-secret');
      expect(apps.customName.tags).toContain('rotation:notify=secops@contoso.com');
      expect(apps.certificateOnly.passwordCredentials).toHaveLength(0);
      expect(apps.certificateOnly.keyCredentials).toHaveLength(1);
      expect(apps.personal.signInAudience).toBe('AzureADandPersonalMicrosoftAccount');
      expect(apps.personal.passwordCredentials).toHaveLength(2);
      expect(apps.hostile.displayName).toContain('<img');
      expect(apps.notOwned.ownerIds).not.toContain(cloud.rotator.id);
      const { notOwned: _out, ...owned } = apps;
      for (const app of Object.values(owned)) {
        expect(app.ownerIds).toContain(cloud.rotator.id);
        expect(app.ownerIds.length).toBeGreaterThanOrEqual(2);
        expect(app.ownerIds.length).toBeLessThanOrEqual(3);
      }
      expect(users.dave.mail).toBeNull();
      expect(users.erin.mail).toBeNull();
      expect(users.erin.userPrincipalName).not.toContain('@');
      expect(cloud.tenant.applications.size).toBe(12);
    } finally {
      await cloud.stop();
    }
  });

  it('seeds 50,000 apps, with the due share spread through them', async () => {
    const cloud = await startSimCloud({ graphThrottling: false });
    try {
      const now = new Date();
      const large = seedLargeTenant(cloud, { apps: 50_000, duePercent: 5, now });
      expect(large.apps).toHaveLength(50_000);
      expect(large.dueAppIds).toHaveLength(2_500);
      expect(large.users).toHaveLength(200);
      const days = large.apps.map(
        (a) => (Date.parse(a.passwordCredentials[0]!.endDateTime) - now.getTime()) / DAY,
      );
      expect(days.filter((d) => d <= 30)).toHaveLength(2_500);
      expect(days.every((d) => d <= 30 || (d >= 60 && d <= 700))).toBe(true);
      // spread: the due apps are not bunched in one part of the list
      const secondHalfDue = large.apps
        .slice(25_000)
        .filter((a) => Date.parse(a.passwordCredentials[0]!.endDateTime) - now.getTime() <= 30 * DAY);
      expect(secondHalfDue.length).toBe(1_250);
      const twoOwners = large.apps.filter((a) => a.ownerIds.length === 3).length;
      expect(twoOwners).toBeGreaterThan(10_000);
      expect(large.apps.every((a) => a.ownerIds[0] === cloud.rotator.id)).toBe(true);
    } finally {
      await cloud.stop();
    }
  });
});
