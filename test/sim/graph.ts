// STUB: replaced by the Microsoft Graph simulator.
import type { SimContext, SimService } from './cloud.js';
export function createGraph(_ctx: SimContext, _opts: { throttling: boolean }): SimService {
  return { routes: [], errors: { body: (_s, code, message) => ({ error: { code, message } }) } };
}
