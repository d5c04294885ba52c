// What every trigger does first: read the edge (settings, clock, adapters) once and connect a run's dependencies,
// with the engine's log lines going through the invocation's logger.
import type { InvocationContext } from '@azure/functions';
import type { Logger, RunDeps } from '../../rotation/context.js';
import { connect, type Edge } from '../../run.js';

/** Engine log lines through the invocation's logger, one JSON object per line. */
export function contextLogger(context: InvocationContext): Logger {
  return (msg, fields) => context.log(JSON.stringify({ msg, ...fields }));
}

/** Settings from the edge (a bad one throws SettingsError before any change), then the run's dependencies. */
export function connectRun(
  edge: Edge,
  context: InvocationContext,
  opts: { requireKeyVault: boolean },
): Promise<RunDeps> {
  const settings = edge.settings(opts);
  return connect(settings, contextLogger(context), edge.services(settings), edge.clock);
}
