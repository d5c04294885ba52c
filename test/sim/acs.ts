// Azure Communication Services Email (data plane, api-version 2025-09-01) as the real EmailClient sees it. One file
// per part: acs/auth.ts (Entra or HMAC), acs/send.ts (POST /emails:send), acs/operations.ts (the long-running
// operation), acs/limits.ts (the documented limits), acs/state.ts (what the resource holds and how it is tuned).
import type { SimContext, SimService } from './cloud.js';
import { authenticate, requireApiVersion } from './acs/auth.js';
import { getOperationHandler } from './acs/operations.js';
import { sendHandler } from './acs/send.js';

export { ACS_DOCUMENTED_LIMITS, type AcsDomainKind, type AcsRateLimits } from './acs/limits.js';
export { statusOf, type MailOperation, type OperationStatus } from './acs/operations.js';
export { MailState, type MailMessage, type MailStateOptions, type OperationIdReuse } from './acs/state.js';

export function createAcs(ctx: SimContext): SimService {
  const getOperation = getOperationHandler(ctx.mail);
  return {
    routes: [
      { method: 'POST', pattern: /^\/emails:send$/, op: 'acs.send', handler: sendHandler(ctx) },
      {
        method: 'GET',
        pattern: /^\/emails\/operations\/([^/]+)$/,
        op: 'acs.getOperation',
        handler: async (req) => {
          requireApiVersion(req);
          await authenticate(ctx, req);
          return getOperation(req);
        },
      },
    ],
    errors: {
      body: (_status, code, message) => ({ error: { code, message } }),
      headers: (_status, code) => ({ 'x-ms-error-code': code }),
    },
  };
}
