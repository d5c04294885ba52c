// A whole run as the CLI, the HTTP functions and the timer perform it: rotate (or scan), then notify.
import { notifyOwners } from './notify/notify.js';
import {
  createServices,
  runRotation,
  type RunOptions,
  type RunResult,
  type Services,
} from './rotation/engine.js';
import type { Settings } from './settings.js';

export async function runAndNotify(
  settings: Settings,
  opts: RunOptions,
  services: Services = createServices(settings),
): Promise<RunResult> {
  const result = await runRotation(settings, opts, services);
  if (!result.report.dryRun) {
    const log = opts.log ?? (() => undefined);
    const notes = await notifyOwners(settings, services, result.report, result.changed, log, opts.now).catch(
      (err: unknown) => [`notifications failed: ${(err as Error).message}`],
    );
    if (notes.length) result.report.notes = [...(result.report.notes ?? []), ...notes];
    for (const n of notes) log(n);
  }
  return result;
}
