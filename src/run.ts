// A whole run as the CLI, the HTTP functions and the timer perform it: rotate (or scan), then notify.
import { describeError } from './errors.js';
import { notifyOwners, type NotifyOptions } from './notify/notify.js';
import {
  createServices,
  partialResultOf,
  runRotation,
  type Logger,
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
  let result: RunResult;
  try {
    result = await runRotation(settings, opts, services);
  } catch (err) {
    await notifyCutShort(settings, services, err, opts.log, opts.now, notify.mailer);
    throw err;
  }
  if (!result.report.dryRun) await notifyRun(settings, services, result, opts.log, opts.now, notify.mailer);
  return result;
}

/**
 * The notification step of a run, for every trigger: emails the owners of what changed, fills `notified`, and
 * adds the step's notes to the report. Reminders go out only for whole-scope runs (`result.wholeScope`).
 */
export async function notifyRun(
  settings: Settings,
  services: Services,
  result: RunResult,
  log: Logger = () => undefined,
  now?: () => Date,
  mailer?: NotifyOptions['mailer'],
): Promise<string[]> {
  const notes = await notifyOwners(settings, services, result.report, result.changed, log, now, {
    fullRun: result.wholeScope,
    mailer,
  }).catch((err: unknown) => [`notifications failed: ${describeError(err)}`]);
  // Run-level notes are said once, in the report (the CLI prints them under its table or in the JSON, the
  // HTTP functions return them, the timer logs them), not also in the progress log.
  if (notes.length) result.report.notes = [...(result.report.notes ?? []), ...notes];
  return notes;
}

/**
 * A run cut short (Graph broke off the listing) still tells the owners of what it rotated before it stopped. No
 * reminders: the scope was not all seen. Call with the error the run threw; anything else is left alone.
 */
export async function notifyCutShort(
  settings: Settings,
  services: Services,
  err: unknown,
  log?: Logger,
  now?: () => Date,
  mailer?: NotifyOptions['mailer'],
): Promise<void> {
  const partial = partialResultOf(err);
  if (!partial || partial.report.dryRun || partial.changed.length === 0) return;
  await notifyRun(settings, services, { ...partial, wholeScope: false }, log, now, mailer);
}
