// What the host reads: each trigger's registration (auth level, route, methods, schedule, queue and connection),
// host.json and the sample local settings. The registrations are captured by standing in for `app`.
import type * as Functions from '@azure/functions';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const registered = vi.hoisted(() => new Map<string, { kind: string; options: Record<string, unknown> }>());
vi.mock('@azure/functions', async (original) => {
  const real = await original<typeof Functions>();
  const capture = (kind: string) => (name: string, options: Record<string, unknown>) =>
    void registered.set(name, { kind, options });
  return { ...real, app: { http: capture('http'), timer: capture('timer'), storageQueue: capture('queue') } };
});

await import('../../src/functions/rotateHttp.js');
await import('../../src/functions/scanHttp.js');
await import('../../src/functions/runsHttp.js');
await import('../../src/functions/rotateTimer.js');
await import('../../src/functions/rotateWorker.js');
await import('../../src/functions/rotatePoison.js');

const root = resolve(import.meta.dirname, '../..');
const readJson = (f: string) => JSON.parse(readFileSync(resolve(root, f), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('registrations', () => {
  it('HTTP functions need a function key and answer every method themselves (405, not the host 404)', () => {
    for (const [name, route] of [
      ['rotate', 'rotate'],
      ['scan', 'scan'],
      ['runs', 'runs/{runId}'],
    ]) {
      const r = registered.get(name!);
      expect(r?.kind).toBe('http');
      expect(r?.options).toMatchObject({ authLevel: 'function', route });
      expect(r?.options.methods).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'DELETE']));
    }
  });

  it('the timer reads its schedule from the ROTATION_SCHEDULE app setting', () => {
    expect(registered.get('rotateTimer')).toMatchObject({
      kind: 'timer',
      options: { schedule: '%ROTATION_SCHEDULE%' },
    });
    expect(registered.get('rotateTimer')?.options.runOnStartup).toBeFalsy();
  });

  it('the worker and the poison handler read rotation-work and its poison queue through AzureWebJobsStorage', () => {
    expect(registered.get('rotateWorker')).toMatchObject({
      kind: 'queue',
      options: { queueName: 'rotation-work', connection: 'AzureWebJobsStorage' },
    });
    expect(registered.get('rotatePoison')).toMatchObject({
      kind: 'queue',
      options: { queueName: 'rotation-work-poison', connection: 'AzureWebJobsStorage' },
    });
  });
});

describe('host.json and local.settings.sample.json', () => {
  it('host.json: v2, bundle 4.x, a Flex timeout, base64 queue messages and a bounded dequeue count', () => {
    const host = readJson('host.json');
    expect(host.version).toBe('2.0');
    expect(host.extensionBundle).toEqual({
      id: 'Microsoft.Azure.Functions.ExtensionBundle',
      version: '[4.*, 5.0.0)',
    });
    expect(host.functionTimeout).toBe('00:30:00');
    expect(host.extensions.queues).toMatchObject({ messageEncoding: 'base64', maxDequeueCount: 5 });
  });

  it('the sample settings name every contract setting with safe values', () => {
    const sample = readJson('local.settings.sample.json');
    expect(sample.IsEncrypted).toBe(false);
    const v = sample.Values as Record<string, string>;
    expect(v.FUNCTIONS_WORKER_RUNTIME).toBe('node');
    expect(v.AzureWebJobsStorage).toBe('UseDevelopmentStorage=true');
    for (const name of [
      'KEY_VAULT_URL',
      'GRAPH_ENDPOINT',
      'AZURE_AUTHORITY_HOST',
      'AZURE_TENANT_ID',
      'AZURE_CLIENT_ID',
      'AZURE_CLIENT_SECRET',
      'IDENTITY_ENDPOINT',
      'IDENTITY_HEADER',
      'ROTATION_SCOPE',
      'ROTATION_TAG',
      'RENEW_BEFORE_DAYS',
      'SECRET_LIFETIME_DAYS',
      'RETIRE_AFTER_DAYS',
      'VERIFY_TIMEOUT_SECONDS',
      'ACS_ENDPOINT',
      'ACS_CONNECTION_STRING',
      'EMAIL_SENDER',
      'NOTIFY_ALSO',
      'REMIND_UNMANAGED',
      'ROTATION_SCHEDULE',
      'KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION',
    ])
      expect(v, name).toHaveProperty(name);
    expect(v.AZURE_CLIENT_SECRET).toBe('');
    expect(v.ROTATION_SCHEDULE).toBe('0 0 3 * * *');
  });
});
