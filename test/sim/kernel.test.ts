// The simulator kernel: TLS trusted through the throwaway CA, routing, faults, latency, the request log.
import { describe, expect, it, afterAll, inject } from 'vitest';
import { QueueClient } from '@azure/storage-queue';
import { Faults, RequestLog, startSimServer, type SimResponse } from './http.js';

const faults = new Faults();
const log = new RequestLog();
const server = await startSimServer({
  service: 'graph',
  routes: [
    {
      method: 'GET',
      pattern: /^\/ping$/,
      op: 'graph.ping',
      handler: (): SimResponse => ({ status: 200, body: { ok: true } }),
    },
  ],
  errors: { body: (_s, code, message) => ({ error: { code, message } }) },
  faults,
  log,
});
afterAll(() => server.close());

describe('simulator kernel', () => {
  it('serves HTTPS that Node trusts through NODE_EXTRA_CA_CERTS', async () => {
    const res = await fetch(`${server.origin}/ping`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(log.count('graph.ping')).toBe(1);
  });

  it('answers unknown routes with a 404 in the service error shape', async () => {
    const res = await fetch(`${server.origin}/nope`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NotFound');
  });

  it('injects a status fault a given number of times, with Retry-After', async () => {
    faults.fail('graph.ping', 429, 2, { retryAfterSeconds: 3 });
    const a = await fetch(`${server.origin}/ping`);
    const b = await fetch(`${server.origin}/ping`);
    const c = await fetch(`${server.origin}/ping`);
    expect([a.status, b.status, c.status]).toEqual([429, 429, 200]);
    expect(a.headers.get('retry-after')).toBe('3');
  });

  it('lets the first `after` matching requests through, then faults', async () => {
    const fault = faults.fail('graph.ping', 503, 2, { after: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${server.origin}/ping`)).status);
    expect(statuses).toEqual([200, 200, 503, 503, 200]);
    faults.remove(fault);
  });

  it('resets the connection on a reset fault', async () => {
    faults.add({ op: 'graph.ping', kind: 'reset', times: 1 });
    await expect(fetch(`${server.origin}/ping`)).rejects.toThrow();
    expect((await fetch(`${server.origin}/ping`)).status).toBe(200);
  });

  it('adds latency per service', async () => {
    faults.latencyMs.graph = 120;
    const seq = log.entries.at(-1)?.seq ?? 0;
    await fetch(`${server.origin}/ping`);
    // The simulator's own record of the request says it held it for the latency (its sleep, not this test's clock).
    expect(log.entries.filter((e) => e.seq > seq).map((e) => e.durationMs >= 110)).toEqual([true]);
    faults.latencyMs.graph = 0;
  });

  it('has Azurite running for storage', async () => {
    const q = new QueueClient(inject('azuriteConnectionString'), 'kernel-smoke');
    await q.createIfNotExists();
    await q.sendMessage('hello');
    const got = await q.receiveMessages();
    expect(got.receivedMessageItems[0]?.messageText).toBe('hello');
  });
});
