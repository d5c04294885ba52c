// STUB: replaced by the Key Vault simulator.
import type { SimContext, SimService } from './cloud.js';
export class VaultState {
  allValues(): string[] {
    return [];
  }
}
export function createKeyVault(_ctx: SimContext): SimService {
  return { routes: [], errors: { body: (_s, code, message) => ({ error: { code, message } }) } };
}
