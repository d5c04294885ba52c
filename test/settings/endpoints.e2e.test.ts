// Endpoints outside a known Azure cloud (issue 13 §5): refused with the setting named before any change, unless
// ALLOW_CUSTOM_ENDPOINTS=true (the simulated cloud sets it); challenge verification off is always a warning.
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { loadSettings, SettingsError } from '../../src/settings.js';
import { startSimCloud } from '../sim/cloud.js';
import { seedDemoTenant } from '../sim/seed.js';

const cloud = await startSimCloud();
afterAll(() => cloud.stop());
seedDemoTenant(cloud);
// The rotator's own identity (managed identity endpoint) is read by @azure/identity from process.env.
Object.assign(process.env, cloud.env);

const writes = () =>
  cloud.log.count(/^graph\.(addPassword|removePassword)$|^keyvault\.setSecret$|^acs\.send/);

async function cli(args: string[], env: Record<string, string | undefined>) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, env, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

const azure = {
  AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com',
  GRAPH_ENDPOINT: 'https://graph.microsoft.com',
  KEY_VAULT_URL: 'https://kv-rotator.vault.azure.net',
  ACS_ENDPOINT: 'https://acs-rotator.communication.azure.com',
  EMAIL_SENDER: 'DoNotReply@contoso.com',
};

describe('endpoint hosts', () => {
  it.each(['AZURE_AUTHORITY_HOST', 'GRAPH_ENDPOINT', 'KEY_VAULT_URL', 'ACS_ENDPOINT'] as const)(
    'a rotate with %s on the simulated cloud but no ALLOW_CUSTOM_ENDPOINTS stops with exit 2, naming it, before any change',
    async (name) => {
      const before = writes();
      const env = { ...cloud.env, ...azure, [name]: cloud.env[name], ALLOW_CUSTOM_ENDPOINTS: undefined };
      const r = await cli(['rotate', '--json'], env);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`Setting ${name}`);
      expect(r.stderr).toContain('not a host of a known Azure cloud');
      expect(r.stderr).toContain('ALLOW_CUSTOM_ENDPOINTS');
      expect(writes()).toBe(before);
    },
  );

  it('the whole simulated cloud is refused without the override, and rotates with it', async () => {
    const refused = await cli(['rotate', '--json'], { ...cloud.env, ALLOW_CUSTOM_ENDPOINTS: 'false' });
    expect(refused.code).toBe(2);
    const before = writes();
    const ran = await cli(['rotate', '--json'], { ...cloud.env, VERIFY_TIMEOUT_SECONDS: '10' });
    expect(ran.code).not.toBe(2); // the demo tenant holds apps that fail on purpose (exit 1)
    expect(JSON.parse(ran.stdout).summary.rotated).toBeGreaterThan(0);
    expect(writes()).toBeGreaterThan(before);
  });

  it.each([
    ['AZURE_AUTHORITY_HOST', 'https://login.microsoftonline.us'],
    ['AZURE_AUTHORITY_HOST', 'https://login.chinacloudapi.cn'],
    ['GRAPH_ENDPOINT', 'https://graph.microsoft.us'],
    ['GRAPH_ENDPOINT', 'https://dod-graph.microsoft.us'],
    ['GRAPH_ENDPOINT', 'https://microsoftgraph.chinacloudapi.cn'],
    ['KEY_VAULT_URL', 'https://kv-1.vault.usgovcloudapi.net'],
    ['KEY_VAULT_URL', 'https://KV-1.vault.azure.cn'],
    ['ACS_ENDPOINT', 'https://acs.communication.azure.us'],
    ['ACS_ENDPOINT', 'https://acs.communication.azure.cn'],
  ])('accepts %s=%s (national clouds)', (name, value) => {
    expect(() => loadSettings({ ...azure, [name]: value }, { requireKeyVault: true })).not.toThrow();
  });

  it.each([
    ['AZURE_AUTHORITY_HOST', 'https://login.microsoftonline.com.evil.example'],
    ['GRAPH_ENDPOINT', 'https://graph.microsoft.com:8443'],
    ['KEY_VAULT_URL', 'https://vault.azure.net'],
    ['KEY_VAULT_URL', 'https://a.b.vault.azure.net'],
    ['KEY_VAULT_URL', 'https://kv.vault.azure.net.evil.example'],
    ['ACS_ENDPOINT', 'https://evil.example/communication.azure.com'],
  ])('refuses %s=%s naming it', (name, value) => {
    let err: unknown;
    try {
      loadSettings({ ...azure, [name]: value }, { requireKeyVault: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SettingsError);
    expect((err as SettingsError).setting).toBe(name);
  });

  it('warns whenever challenge verification is off, and about each custom endpoint it allows', () => {
    expect(loadSettings(azure, { requireKeyVault: true }).warnings).toEqual([]);
    const off = loadSettings(
      { ...azure, KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION: 'true' },
      { requireKeyVault: true },
    );
    expect(off.warnings).toEqual([expect.stringContaining('KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION is on')]);
    const sim = loadSettings(cloud.env, { requireKeyVault: true });
    expect(sim.warnings.map((w) => w.split(' ')[0]).sort()).toEqual([
      'ACS_ENDPOINT',
      'AZURE_AUTHORITY_HOST',
      'GRAPH_ENDPOINT',
      'KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION',
      'KEY_VAULT_URL',
    ]);
  });
});
