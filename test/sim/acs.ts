// STUB: replaced by the ACS Email simulator.
import type { SimContext, SimService } from './cloud.js';
export class MailState {
  constructor(readonly opts: { messagesPerMinute?: number } = {}) {}
}
export function createAcs(_ctx: SimContext): SimService {
  return { routes: [], errors: { body: (_s, code, message) => ({ error: { code, message } }) } };
}
