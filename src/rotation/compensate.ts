// Compensation, shared by the protocol and the ownership re-checks: a new credential whose secret is not safely in
// Key Vault as this app's is removed again, so no credential outlives the run that could not store it.
import { describeError } from '../errors.js';
import type { Rotation, StepContext } from './protocol.js';

export async function compensate(ctx: StepContext, r: Rotation): Promise<string> {
  try {
    await ctx.services.graph.removePassword(r.app.id, r.created!.keyId);
    return 'removed the new credential again';
  } catch (err) {
    return `could not remove the new credential ${r.created!.keyId} (${describeError(err)}); the next run removes it as an orphan`;
  }
}
