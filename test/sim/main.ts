// The simulated cloud as a separate process (npm run sim / demo / bench, manual use). Prints one JSON line
// {"ready":true,"env":{…},"control":"http://127.0.0.1:<port>","tenantId":"…"} on stdout, then serves a small
// plain-http control API on 127.0.0.1. Everything else it prints goes to stderr.
// `--print-env` prints `export` lines instead (everything the CLI needs, CA included); `--shell` opens a shell with
// them and stops the cloud when that shell exits (see shell-env.ts).
import { spawn } from 'node:child_process';
import { fstatSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { startSimCloud, type SimCloud } from './cloud.js';
import { graphControl } from './graph.js';
import type { FaultKind, ServiceName } from './http.js';
import { seedDemoTenant, seedLargeTenant } from './seed.js';
import { exportLines, shellEnv } from './shell-env.js';

// stdout carries exactly the ready line; keep stray logging from any module off it.
console.log = console.error;
console.info = console.error;

const usage = `usage: tsx test/sim/main.ts [--seed demo|large|none] [--apps N] [--due-percent P]
  [--latency graph=50,entra=30,mi=30,keyvault=30,acs=50] [--no-graph-throttling] [--tier S|M|L]
  [--acs-domain azure-managed|custom] [--acs-running-ms N] [--acs-per-minute N] [--acs-per-hour N] [--replication-delay-ms N (demo seed: 300)]
  [--print-env (export lines for the CLI instead of the JSON line) | --shell (a shell with them; exit it to stop)]`;

const SERVICES: ServiceName[] = ['entra', 'mi', 'graph', 'keyvault', 'acs'];
/** Replication delay of new secrets in the demo tenant (real Entra: seconds to minutes). */
const DEMO_REPLICATION_DELAY_MS = 300;

function fail(message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got '${v}'`);
  return n;
}

function parseLatency(v: string | undefined): Partial<Record<ServiceName, number>> {
  const out: Partial<Record<ServiceName, number>> = {};
  if (!v) return out;
  for (const part of v.split(',')) {
    const [name, ms] = part.split('=');
    if (!SERVICES.includes(name as ServiceName))
      fail(`--latency: unknown service '${name}' (${SERVICES.join(', ')})`);
    out[name as ServiceName] = int('latency', ms);
  }
  return out;
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        seed: { type: 'string', default: 'demo' },
        apps: { type: 'string' },
        'due-percent': { type: 'string' },
        latency: { type: 'string' },
        'no-graph-throttling': { type: 'boolean', default: false },
        tier: { type: 'string' },
        'acs-domain': { type: 'string' },
        'acs-running-ms': { type: 'string' },
        'acs-per-minute': { type: 'string' },
        'acs-per-hour': { type: 'string' },
        'replication-delay-ms': { type: 'string' },
        'print-env': { type: 'boolean', default: false },
        shell: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    });
  } catch (err) {
    fail((err as Error).message);
  }
})();
if (values.help) {
  console.error(usage);
  process.exit(0);
}
if (!['demo', 'large', 'none'].includes(values.seed))
  fail(`--seed must be demo, large or none, got '${values.seed}'`);
const duePercent = values['due-percent'] === undefined ? undefined : Number(values['due-percent']);
if (duePercent !== undefined && !(duePercent >= 0 && duePercent <= 100)) fail('--due-percent must be 0-100');

const tier = values.tier;
if (tier !== undefined && tier !== 'S' && tier !== 'M' && tier !== 'L')
  fail(`--tier must be S, M or L, got '${tier}'`);
const acsDomain = values['acs-domain'];
if (acsDomain !== undefined && acsDomain !== 'azure-managed' && acsDomain !== 'custom')
  fail(`--acs-domain must be azure-managed or custom, got '${acsDomain}'`);

const cloud = await startSimCloud({
  acsDomainKind: acsDomain,
  acsSendRunningMs: int('acs-running-ms', values['acs-running-ms']),
  graphThrottling: !values['no-graph-throttling'],
  // Graph's resource-unit budget by tenant size (S < 50 users, M 50-500, L > 500); the default is L.
  ...(tier ? { throttlingTier: tier } : {}),
  acsMessagesPerMinute: int('acs-per-minute', values['acs-per-minute']),
  // The demo tenant makes new secrets wait a little, as Entra does, so a proof's waiting is always exercised.
  replicationDelayMs:
    int('replication-delay-ms', values['replication-delay-ms']) ??
    (values.seed === 'demo' ? DEMO_REPLICATION_DELAY_MS : undefined),
});
const perHour = int('acs-per-hour', values['acs-per-hour']);
if (perHour !== undefined) cloud.mail.messagesPerHour = perHour;
Object.assign(cloud.faults.latencyMs, parseLatency(values.latency));

if (values.seed === 'demo') seedDemoTenant(cloud);
if (values.seed === 'large') {
  seedLargeTenant(cloud, { apps: int('apps', values.apps) ?? 1000, duePercent });
}

const control = createServer((req, res) => {
  handle(cloud, req, res).catch((err: unknown) => json(res, 500, { error: (err as Error).message }));
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
const port = (control.address() as AddressInfo).port;

let stopping = false;
async function shutdown(code = 0): Promise<never> {
  if (!stopping) {
    stopping = true;
    control.closeAllConnections();
    control.close();
    await cloud.stop();
  }
  process.exit(code);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
// When a parent talks to us through a pipe, its exit closes the pipe: don't outlive it.
// (With --shell, stdin belongs to the shell.)
if (isPipe(0) && !values.shell) {
  process.stdin.on('end', () => void shutdown());
  process.stdin.on('close', () => void shutdown());
  process.stdin.resume();
}

if (values['print-env'] || values.shell) forPeople();
else
  process.stdout.write(
    `${JSON.stringify({ ready: true, env: cloud.env, control: `http://127.0.0.1:${port}`, tenantId: cloud.tenant.tenantId })}\n`,
  );

/** --print-env, --shell: the CLI's environment for a person at a terminal. */
function forPeople(): void {
  const env = shellEnv(cloud.env);
  if (typeof env === 'string') fail(env);
  const control = `control API: http://127.0.0.1:${port}`;
  if (!values.shell) {
    process.stdout.write(`${exportLines(env)}# simulated cloud ready (${control}); Ctrl-C stops it\n`);
    return;
  }
  console.error(
    `simulated cloud ready (${control}). In this shell: entra-secret-rotator scan, rotate --dry-run, rotate.\n` +
      'Type exit to stop the simulated cloud.',
  );
  // Ctrl-C belongs to the shell (it reaches this whole process group), not to the cloud it talks to.
  process.removeAllListeners('SIGINT');
  process.on('SIGINT', () => undefined);
  const shell = spawn(process.env.SHELL || '/bin/sh', [], {
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  shell.on('exit', (code) => void shutdown(code ?? 0));
}

function isPipe(fd: number): boolean {
  try {
    const s = fstatSync(fd);
    return s.isFIFO() || s.isSocket();
  } catch {
    return false;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

async function handle(cloud: SimCloud, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const route = `${req.method} ${new URL(req.url ?? '/', 'http://x').pathname}`;
  switch (route) {
    case 'GET /stats':
      return json(res, 200, stats(cloud));
    case 'GET /issued-secrets':
      return json(res, 200, cloud.issuedSecrets());
    case 'GET /mail':
      return json(res, 200, cloud.mail.messages);
    case 'GET /apps':
      return json(res, 200, apps(cloud));
    case 'GET /vault':
      return json(res, 200, vault(cloud));
    case 'POST /faults': {
      let body: Record<string, unknown>;
      try {
        body = (await readJson(req)) as Record<string, unknown>;
        return json(res, 200, { id: addFault(cloud, body).id });
      } catch (err) {
        return json(res, 400, { error: (err as Error).message });
      }
    }
    case 'POST /caller-token': {
      // A signed access token of a caller of the rotator's own API (the bench's POST /api/rotate), with these roles.
      const body = (await readJson(req)) as { roles?: string[]; name?: string };
      return json(res, 200, { token: await cloud.callerToken({ roles: body.roles, name: body.name }) });
    }
    case 'POST /graph-budgets': {
      // Graph's write budget of the pair, shrunk for a short run that still crosses its windows (the bench).
      const body = (await readJson(req)) as { appTenantWrites?: number; appTenantWritesWindowMs?: number };
      graphControl(cloud).throttle.setBudgets({
        appTenantWrites: body.appTenantWrites,
        appTenantWritesWindowMs: body.appTenantWritesWindowMs,
      });
      return json(res, 200, { budgets: graphControl(cloud).throttle.budgets });
    }
    case 'DELETE /faults':
      cloud.faults.clear();
      return json(res, 200, { cleared: true });
    case 'POST /reset-stats':
      cloud.log.clear();
      cloud.mail.throttled.perMinute = 0;
      cloud.mail.throttled.perHour = 0;
      cloud.mail.throttled.status = 0;
      return json(res, 200, { reset: true });
    case 'POST /shutdown':
      json(res, 200, { stopping: true });
      res.on('finish', () => void shutdown());
      return;
    default:
      return json(res, 404, { error: `no control route ${route}` });
  }
}

/** Requests per service, op and status; 429s per service; emails sent; successful Graph writes. */
function stats(cloud: SimCloud) {
  const requests: Record<string, Record<string, Record<string, number>>> = {};
  const throttled: Record<string, number> = {};
  let graphWrites = 0;
  for (const e of cloud.log.entries) {
    const byOp = (requests[e.service] ??= {});
    const byStatus = (byOp[e.op] ??= {});
    byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
    if (e.status === 429) throttled[e.service] = (throttled[e.service] ?? 0) + 1;
    if (
      e.service === 'graph' &&
      e.method !== 'GET' &&
      !/batch/i.test(e.op) &&
      e.status >= 200 &&
      e.status < 300
    ) {
      graphWrites++;
    }
  }
  return {
    requests,
    throttled,
    totalRequests: cloud.log.entries.length,
    emailsSent: cloud.mail.messages.filter((m) => !m.dropped).length,
    emailsDropped: cloud.mail.messages.filter((m) => m.dropped).length,
    acsThrottled: { ...cloud.mail.throttled },
    graphWrites,
    replicationDelayMs: cloud.tenant.replicationDelayMs,
  };
}

function apps(cloud: SimCloud) {
  return [...cloud.tenant.applications.values()].map((a) => ({
    id: a.id,
    appId: a.appId,
    displayName: a.displayName,
    tags: a.tags,
    signInAudience: a.signInAudience,
    ownerIds: a.ownerIds,
    passwordCredentials: a.passwordCredentials.map(
      ({ secretText: _secret, createdAt: _created, ...rest }) => rest,
    ),
    keyCredentials: a.keyCredentials,
  }));
}

/** Live secrets by name, each version with its id, tags and dates but never its value; and deleted names. */
function vault(cloud: SimCloud) {
  const secrets: Record<string, unknown[]> = {};
  for (const name of cloud.vault.names()) {
    secrets[name] = cloud.vault.versions(name).map(({ value: _value, ...rest }) => rest);
  }
  return { secrets, deleted: cloud.vault.deletedNames() };
}

function addFault(cloud: SimCloud, body: Record<string, unknown>) {
  const kinds: FaultKind[] = ['status', 'reset', 'hang', 'commitThenReset', 'commitThenHang'];
  const op = body.op;
  const opPattern = body.opPattern;
  if (typeof op !== 'string' && typeof opPattern !== 'string')
    throw new Error('op (exact) or opPattern (regex) is required');
  const kind = body.kind ?? 'status';
  if (!kinds.includes(kind as FaultKind)) throw new Error(`kind must be one of ${kinds.join(', ')}`);
  const num = (k: string) => {
    const v = body[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${k} must be a number`);
    return v;
  };
  const str = (k: string) => {
    const v = body[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new Error(`${k} must be a string`);
    return v;
  };
  return cloud.faults.add({
    op: typeof opPattern === 'string' ? new RegExp(opPattern) : (op as string),
    kind: kind as FaultKind,
    status: num('status'),
    retryAfterSeconds: num('retryAfterSeconds'),
    code: str('code'),
    message: str('message'),
    times: num('times'),
  });
}
