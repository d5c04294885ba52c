// Contract of the simulated Key Vault, driven through the real, unmodified @azure/keyvault-secrets client.
// One cloud per file: MSAL binds the managed-identity endpoint process-wide on first use.
import { ClientSecretCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import type { RestError } from '@azure/core-rest-pipeline';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimCloud, type VaultRole } from './cloud.js';

for (const k of [
  'AZURE_CLIENT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_TENANT_ID',
  'AZURE_FEDERATED_TOKEN_FILE',
  'IDENTITY_SERVER_THUMBPRINT',
]) {
  delete process.env[k];
}
const cloud = await startSimCloud();
process.env.IDENTITY_ENDPOINT = cloud.env.IDENTITY_ENDPOINT;
process.env.IDENTITY_HEADER = cloud.env.IDENTITY_HEADER;
afterAll(() => cloud.stop());

const vaultUrl = cloud.origins.keyvault;
const rotatorCred = new ManagedIdentityCredential();
const clientFor = (cred: TokenCredential) =>
  new SecretClient(vaultUrl, cred, {
    disableChallengeResourceVerification: true,
    retryOptions: { retryDelayInMs: 10, maxRetryDelayInMs: 50 },
  });
const client = clientFor(rotatorCred);
const unique = (prefix = 's') => `${prefix}-${randomUUID().slice(0, 8)}`;

/** An app registration whose service principal holds `role` on the vault (or nothing). */
function principal(role: VaultRole | null): TokenCredential {
  const app = cloud.tenant.addApplication({
    displayName: unique('kv-caller'),
    passwords: [
      { startDateTime: new Date(Date.now() - 60_000), endDateTime: new Date(Date.now() + 86_400_000) },
    ],
  });
  const sp = cloud.tenant.addServicePrincipal({ displayName: app.displayName, appId: app.appId });
  if (role) cloud.vaultRoles.set(sp.id, new Set([role]));
  return new ClientSecretCredential(
    cloud.tenant.tenantId,
    app.appId,
    app.passwordCredentials[0]!.secretText,
    {
      authorityHost: cloud.origins.entra,
      disableInstanceDiscovery: true,
    },
  );
}

type KvError = Omit<RestError, 'details'> & { details?: { error?: { innerError?: { code?: string } } } };

async function failure(p: Promise<unknown>): Promise<KvError> {
  try {
    await p;
  } catch (err) {
    return err as KvError;
  }
  throw new Error('expected the call to fail');
}

async function rawGet(path: string) {
  const token = (await rotatorCred.getToken('https://vault.azure.net/.default'))!.token;
  const res = await fetch(`${vaultUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('Key Vault: authentication', () => {
  it('challenges the first request, then accepts the bearer token (set, get by version, get latest)', async () => {
    const name = unique();
    const before = cloud.log.entries.length;
    const expiresOn = new Date(Date.now() + 30 * 86_400_000);
    const set = await client.setSecret(name, 'value-1', {
      tags: { appId: 'a', keyId: 'k' },
      expiresOn,
      contentType: 'text/plain',
    });
    const setEntries = cloud.log.entries.slice(before).filter((e) => e.op === 'keyvault.setSecret');
    expect(setEntries.map((e) => e.status)).toEqual([401, 200]);

    expect(set.properties.id).toMatch(new RegExp(`^${vaultUrl}/secrets/${name}/[0-9a-f]{32}$`));
    expect(set.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(set.properties.vaultUrl).toBe(vaultUrl);
    expect(set.properties.expiresOn?.getTime()).toBe(Math.floor(expiresOn.getTime() / 1000) * 1000);
    expect(set.properties).toMatchObject({
      enabled: true,
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: 90,
    });

    await client.setSecret(name, 'value-2');
    const latest = await client.getSecret(name);
    expect(latest.value).toBe('value-2');
    expect(cloud.log.entries.at(-1)?.path).toBe(`/secrets/${name}/`);
    const first = await client.getSecret(name, { version: set.properties.version! });
    expect(first.value).toBe('value-1');
    expect(first.properties.tags).toEqual({ appId: 'a', keyId: 'k' });

    // Without the trailing slash, and with the name in another case.
    const raw = await rawGet(`/secrets/${name.toUpperCase()}?api-version=2025-07-01`);
    expect(raw.status).toBe(200);
    expect(raw.body.value).toBe('value-2');
  });

  it('answers an unauthenticated request with 401, the challenge header and AKV10000', async () => {
    const res = await fetch(`${vaultUrl}/secrets/x?api-version=2025-07-01`, { method: 'PUT' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer authorization="${cloud.origins.entra}/${cloud.tenant.tenantId}", resource="https://vault.azure.net"`,
    );
    expect(await res.json()).toEqual({
      error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' },
    });
  });

  it('refuses a token for another audience with 401', async () => {
    // The challenge asks for the vault resource; this credential hands over a Graph token regardless.
    const graphOnly: TokenCredential = {
      getToken: () => rotatorCred.getToken(`${cloud.origins.graph}/.default`),
    };
    const err = await failure(clientFor(graphOnly).getSecret('anything'));
    expect(err.statusCode).toBe(401);
    expect(err.message).toMatch(/audience/i);
  });

  it('requires api-version', async () => {
    const raw = await rawGet('/secrets');
    expect(raw.status).toBe(400);
    expect((raw.body.error as { code: string }).code).toBe('BadParameter');
  });
});

describe('Key Vault: RBAC', () => {
  it('lets Secrets User read but not write, naming the action like the real service', async () => {
    const name = unique();
    await client.setSecret(name, 'v');
    const user = clientFor(principal('Key Vault Secrets User'));
    expect((await user.getSecret(name)).value).toBe('v');
    const err = await failure(user.setSecret(name, 'w'));
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe('Forbidden');
    expect(err.details?.error?.innerError?.code).toBe('ForbiddenByRbac');
    expect(err.message).toContain("Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'");
    expect((await failure(user.beginDeleteSecret(name))).statusCode).toBe(403);
  });

  it('lets Reader list but not get; a principal without a role gets nothing', async () => {
    const reader = clientFor(principal('Key Vault Reader'));
    const names: string[] = [];
    for await (const p of reader.listPropertiesOfSecrets()) names.push(p.name);
    expect(names.length).toBeGreaterThan(0);
    const err = await failure(reader.getSecret(names[0]!));
    expect(err.message).toContain('secrets/getSecret/action');

    const nobody = clientFor(principal(null));
    const denied = await failure(nobody.listPropertiesOfSecrets().next());
    // The SDK's pager replaces the service message with a generic one; the status is what reaches callers.
    expect(denied.statusCode).toBe(403);
  });
});

describe('Key Vault: operations', () => {
  it('updates properties; a disabled version cannot be read', async () => {
    const name = unique();
    const { properties } = await client.setSecret(name, 'v');
    const updated = await client.updateSecretProperties(name, properties.version!, {
      enabled: false,
      tags: { a: 'b' },
    });
    expect(updated.enabled).toBe(false);
    expect(updated.tags).toEqual({ a: 'b' });
    const err = await failure(client.getSecret(name));
    expect(err.statusCode).toBe(403);
    expect(err.message).toBe('Operation get is not allowed on a disabled secret.');
    expect(cloud.vault.latest(name)?.enabled).toBe(false);
  });

  it('answers 404 SecretNotFound for a missing name or version', async () => {
    const err = await failure(client.getSecret(unique('missing')));
    expect([err.statusCode, err.code]).toEqual([404, 'SecretNotFound']);
    const name = unique();
    await client.setSecret(name, 'v');
    const v = await failure(client.getSecret(name, { version: '0'.repeat(32) }));
    expect(v.statusCode).toBe(404);
  });

  it('pages secrets and versions with absolute nextLinks back to the simulator, never listing values', async () => {
    for (let i = 0; i < 6; i++) await client.setSecret(unique('page'), `page-value-${i}`);
    const total = cloud.vault.names().length;
    const sizes: number[] = [];
    const seen = new Set<string>();
    for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: 4 })) {
      sizes.push(page.length);
      for (const p of page) {
        seen.add(p.name);
        expect(p.id).toBe(`${vaultUrl}/secrets/${p.name}`);
        expect(p.version).toBeUndefined();
      }
    }
    expect(sizes.length).toBe(Math.ceil(total / 4));
    expect(seen.size).toBe(total);

    const raw = await rawGet('/secrets?api-version=2025-07-01&maxresults=2');
    expect(JSON.stringify(raw.body)).not.toMatch(/"value":"/);
    expect(String(raw.body.nextLink)).toMatch(
      new RegExp(`^${vaultUrl}/secrets\\?api-version=2025-07-01&\\$skiptoken=[^&]+&maxresults=2$`),
    );
    expect((await rawGet('/secrets?api-version=2025-07-01&maxresults=26')).status).toBe(400);

    const name = unique('versions');
    for (let i = 0; i < 5; i++) await client.setSecret(name, `version-${i}`);
    const versionPages: string[][] = [];
    for await (const page of client.listPropertiesOfSecretVersions(name).byPage({ maxPageSize: 2 })) {
      versionPages.push(page.map((p) => p.version!));
    }
    expect(versionPages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(versionPages.flat()).toEqual(cloud.vault.versions(name).map((v) => v.version));
  });

  it('soft-deletes: 409 on reuse of the name, recover, purge', async () => {
    const name = unique('del');
    await client.setSecret(name, 'before-delete', { tags: { keyId: 'k1' } });
    const deleted = await (await client.beginDeleteSecret(name, { intervalInMs: 10 })).pollUntilDone();
    expect(deleted.recoveryId).toBe(`${vaultUrl}/deletedsecrets/${name}`);
    expect(deleted.deletedOn).toBeInstanceOf(Date);
    expect(deleted.scheduledPurgeDate!.getTime() - deleted.deletedOn!.getTime()).toBe(90 * 86_400_000);
    expect((await client.getDeletedSecret(name)).properties.tags).toEqual({ keyId: 'k1' });
    expect(cloud.vault.deletedNames()).toContain(name);

    const conflict = await failure(client.setSecret(name, 'again'));
    expect([conflict.statusCode, conflict.code]).toEqual([409, 'Conflict']);
    expect(conflict.details?.error?.innerError?.code).toBe('ObjectIsDeletedButRecoverable');
    expect((await failure(client.getSecret(name))).statusCode).toBe(404);

    await (await client.beginRecoverDeletedSecret(name, { intervalInMs: 10 })).pollUntilDone();
    expect((await client.getSecret(name)).value).toBe('before-delete');

    await (await client.beginDeleteSecret(name, { intervalInMs: 10 })).pollUntilDone();
    await client.purgeDeletedSecret(name);
    expect(cloud.log.entries.filter((e) => e.op === 'keyvault.purgeDeletedSecret').at(-1)?.status).toBe(204);
    expect((await failure(client.getDeletedSecret(name))).statusCode).toBe(404);
    await client.setSecret(name, 'after-purge');
    expect(cloud.vault.versions(name)).toHaveLength(1);
    expect(cloud.vault.allValues()).toEqual(expect.arrayContaining(['before-delete', 'after-purge']));
  });

  it('absorbs a 429 with Retry-After 0 through the SDK retry', async () => {
    await client.getSecret(unique('warm')).catch(() => undefined); // the challenge is done
    cloud.faults.fail('keyvault.setSecret', 429, 1, { retryAfterSeconds: 0 });
    const before = cloud.log.entries.length;
    const set = await client.setSecret(unique('throttled'), 'v');
    expect(set.value).toBe('v');
    expect(cloud.log.entries.slice(before).map((e) => [e.op, e.status])).toEqual([
      ['keyvault.setSecret', 429],
      ['keyvault.setSecret', 200],
    ]);
  });
});

describe('Key Vault: limits', () => {
  it('refuses bad names, oversize values, too many or too long tags and long content types, without echoing the value', async () => {
    const big = 'x'.repeat(25 * 1024 + 1);
    const cases: Array<[string, () => Promise<unknown>]> = [
      ['name with underscore', () => client.setSecret('bad_name', 'v')],
      ['name starting with a digit', () => client.setSecret('1abc', 'v')],
      ['name of 128 characters', () => client.setSecret(`a${'b'.repeat(127)}`, 'v')],
      ['value over 25 KB', () => client.setSecret(unique(), big)],
      [
        '16 tags',
        () =>
          client.setSecret(unique(), 'v', {
            tags: Object.fromEntries([...Array(16).keys()].map((i) => [`t${i}`, 'x'])),
          }),
      ],
      [
        'tag value of 513 characters',
        () => client.setSecret(unique(), 'v', { tags: { t: 'y'.repeat(513) } }),
      ],
      [
        'contentType of 256 characters',
        () => client.setSecret(unique(), 'v', { contentType: 'c'.repeat(256) }),
      ],
    ];
    for (const [what, call] of cases) {
      const err = await failure(call());
      expect([what, err.statusCode, err.code]).toEqual([what, 400, 'BadParameter']);
      expect(err.message).not.toContain('xxxxxxxx');
    }
    const okName = `a${'b'.repeat(126)}`;
    await client.setSecret(okName, 'x'.repeat(25 * 1024), {
      tags: { t: 'y'.repeat(512) },
      contentType: 'c'.repeat(255),
    });
    expect(cloud.vault.latest(okName)?.value).toHaveLength(25 * 1024);
  });
});

describe('VaultState helpers', () => {
  it('seeds versions that the SDK reads back, oldest first', async () => {
    const name = unique('seeded');
    const old = cloud.vault.seed(name, 'seed-1', {
      tags: { keyId: 'k-old' },
      createdOn: new Date(Date.now() - 40 * 86_400_000),
    });
    const latest = cloud.vault.seed(name, 'seed-2', { tags: { keyId: 'k-new' } });
    expect(cloud.vault.versions(name).map((v) => v.version)).toEqual([old.version, latest.version]);
    expect(cloud.vault.latest(name)?.id).toBe(`${vaultUrl}/secrets/${name}/${latest.version}`);
    expect(cloud.vault.names()).toContain(name);
    expect(cloud.issuedSecrets()).toEqual(expect.arrayContaining(['seed-1', 'seed-2']));
    const got = await client.getSecret(name, { version: old.version });
    expect(got.value).toBe('seed-1');
    expect(got.properties.createdOn?.getTime()).toBe(Math.floor(old.createdOn.getTime() / 1000) * 1000);
  });
});
