// The Graph SDK's last middleware step over node:https (src/azure/graph-transport.ts) answers as fetch would: status,
// headers (repeated ones too), a JSON body, no body for 204, and a request that an abort ends.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { send } from '../../src/azure/graph-transport.js';

let server: Server;
let origin = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/empty') return res.writeHead(204).end();
      if (req.url === '/hang') return; // never answers
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('content-type', 'application/json');
      res.writeHead(req.url === '/missing' ? 404 : 200);
      res.end(
        JSON.stringify({
          method: req.method,
          auth: req.headers.authorization,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

it('sends method, headers and body; answers status, headers and the JSON body', async () => {
  const res = await send(`${origin}/echo`, {
    method: 'POST',
    headers: new Headers({ authorization: 'Bearer t' }),
    body: '{"x":1}',
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json');
  expect(res.headers.get('set-cookie')).toBe('a=1, b=2');
  expect(await res.json()).toEqual({ method: 'POST', auth: 'Bearer t', body: '{"x":1}' });
  const missing = await send(`${origin}/missing`, { headers: { authorization: 'Bearer u' } });
  expect(missing.status).toBe(404);
  expect(((await missing.json()) as { auth: string }).auth).toBe('Bearer u');
});

it('a 204 has no body', async () => {
  const res = await send(`${origin}/empty`, { method: 'DELETE' });
  expect(res.status).toBe(204);
  expect(res.body).toBeNull();
});

it('an abort ends the request with the abort reason', async () => {
  const controller = new AbortController();
  const pending = send(`${origin}/hang`, { signal: controller.signal });
  setTimeout(() => controller.abort(new Error('no answer within 50 ms')), 50);
  await expect(pending).rejects.toThrow('no answer within 50 ms');
  await expect(send(`${origin}/echo`, { signal: controller.signal })).rejects.toThrow(
    'no answer within 50 ms',
  );
});
