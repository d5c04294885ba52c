// The bench's emergency-queue mode: one call of the real POST /api/rotate handler, as the Functions host makes it,
// with `{"all": true, "force": true, "revokeSuperseded": true}` and a caller token holding Rotation.Rotate and
// Rotation.Force (BENCH_CALLER_TOKEN, minted by the simulated authority). The handler lists the scope and hands every
// app to the queue workers. Waits for a line on stdin before it calls (so the bench's clock starts at the call, not
// at this process's imports), then prints `{status, body}` on stdout.
// @azure/functions is CommonJS: Node's ESM loader gives it as one default export.
import functions from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
// The handler module itself, not the trigger's lazy wrapper: a warm instance has loaded it already.
import { rotateHttpHandler } from '../src/functions/handlers/rotateHttp.js';
import { envEdge } from '../src/run.js';

const { HttpRequest, InvocationContext } = functions;

const handler = rotateHttpHandler(envEdge(process.env));
const request = new HttpRequest({
  method: 'POST',
  url: 'https://rotator.example/api/rotate',
  headers: {
    'content-type': 'application/json',
    authorization: `Bearer ${process.env.BENCH_CALLER_TOKEN ?? ''}`,
  },
  body: { string: JSON.stringify({ all: true, force: true, revokeSuperseded: true }) },
});
const context = new InvocationContext({
  invocationId: randomUUID(),
  functionName: 'rotate',
  logHandler: (_level, ...args) =>
    process.stderr.write(`[entra-secret-rotator] http ${args.map(String).join(' ')}\n`),
});
process.stderr.write('@@post ready\n');
await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));
const response = await handler(request, context);
// Exit once the answer is written: a report larger than the pipe's buffer is still being written after write()
// returns, and an exit then would cut it off.
process.stdout.write(`${JSON.stringify({ status: response.status, body: response.jsonBody })}\n`, () =>
  process.exit(response.status === 200 ? 0 : 1),
);
