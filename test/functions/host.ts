// What the Functions host hands a handler, built the way the host builds it, for tests that call handlers directly.
import { HttpRequest, InvocationContext } from '@azure/functions';
import { randomUUID } from 'node:crypto';
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
