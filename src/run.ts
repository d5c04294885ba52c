// A whole run as the CLI, the HTTP functions and the timer perform it: rotate (or scan), then notify.
import { describeError } from './errors.js';
import { notifyOwners, type NotifyOptions } from './notify/notify.js';
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
  notify: Omit<NotifyOptions, 'fullRun'> = {},
): Promise<RunResult> {
  const result = await runRotation(settings, opts, services);
  if (!result.report.dryRun) {
    const log = opts.log ?? (() => undefined);
    const notes = await notifyOwners(settings, services, result.report, result.changed, log, opts.now, {
      ...notify,
      fullRun: !opts.appIds?.length,
    }).catch((err: unknown) => [`notifications failed: ${describeError(err)}`]);
    // Run-level notes are said once, in the report (the CLI prints them under its table or in the JSON, the
    // HTTP functions return them, the timer logs them), not also in the progress log.
    if (notes.length) result.report.notes = [...(result.report.notes ?? []), ...notes];
  }
  return result;
}
