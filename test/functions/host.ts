// What the Functions host hands a handler, built the way the host builds it, for tests that call handlers directly.
import { HttpRequest, InvocationContext } from '@azure/functions';
import { randomUUID } from 'node:crypto';

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

/** POST /api/rotate with a JSON body. */
export function rotateRequest(body = '{}'): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: 'https://rotator.example/api/rotate',
    headers: { 'content-type': 'application/json' },
    body: { string: body },
  });
}
