// STUB: replaced by the Entra simulator (authority + managed identity endpoint).
import type { SimContext, SimService } from './cloud.js';
export function createEntra(_ctx: SimContext): { authority: SimService; managedIdentity: SimService } {
  const errors = { body: (_s: number, code: string, message: string) => ({ error: code, error_description: message }) };
  return { authority: { routes: [], errors }, managedIdentity: { routes: [], errors } };
}
