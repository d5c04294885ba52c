// What the Functions host hands a handler, built the way the host builds it, for tests that call handlers directly.
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { QueueClient } from '@azure/storage-queue';
import { randomUUID } from 'node:crypto';
import { decodeAsHost } from '../../src/azure/queue.js';
import { ROLES, type Role } from '../../src/auth/callers.js';
import type { SimCloud } from '../sim/cloud.js';

/** An invocation of `functionName`; each log line goes to `onLog` (and to stderr with DEBUG_FUNCTIONS set). */
export function invocation(
  functionName: string,
  onLog: (level: string, line: string) => void = () => undefined,
  triggerMetadata?: Record<string, unknown>,
): InvocationContext {
  return new InvocationContext({
    invocationId: randomUUID(),
    functionName,
    triggerMetadata,
    logHandler: (level, ...args) => {
      onLog(level, args.map(String).join(' '));
      if (process.env.DEBUG_FUNCTIONS) console.error(level, ...args);
    },
  });
}

/** Every app role of the rotator API. */
export const ALL_ROLES: Role[] = [ROLES.read, ROLES.rotate, ROLES.force];

/**
 * A signed access token of the simulated tenant for a caller of the rotator API holding `roles` (default: all).
 * Mint one per call where the test moves the cloud's clock: tokens live an hour of that clock.
 */
export function operatorToken(
  cloud: Pick<SimCloud, 'callerToken'>,
  roles: Role[] = ALL_ROLES,
  name = 'Test Operator',
): Promise<string> {
  return cloud.callerToken({ roles, name });
}

/** POST /api/rotate with a JSON body, as `token`'s caller (none: no Authorization header). */
export function rotateRequest(body = '{}', token?: string): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: 'https://rotator.example/api/rotate',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: { string: body },
  });
}

/** A run's work messages as the host would hand them to the worker (other test files share the queue). */
export async function takeRun(queue: QueueClient, runId: string, expected: number): Promise<unknown[]> {
  const found: unknown[] = [];
  const deadline = Date.now() + 15_000;
  while (found.length < expected && Date.now() < deadline) {
    const { receivedMessageItems } = await queue.receiveMessages({
      numberOfMessages: 32,
      visibilityTimeout: 1,
    });
    for (const m of receivedMessageItems) {
      const item = decodeAsHost(m.messageText) as { runId?: string };
      if (item.runId !== runId) continue;
      found.push(item);
      await queue.deleteMessage(m.messageId, m.popReceipt);
    }
    if (receivedMessageItems.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  return found;
}
