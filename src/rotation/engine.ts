// One run over the apps in scope (or the apps named): Graph's pages, streamed, with bounded concurrency; every app
// goes to reconcile.ts, which decides and acts. This file only pages, limits, collects the report and, when the
// listing breaks off, throws RunAbortedError with what was done. One failing app never fails the others.
import { describeError } from '../errors.js';
import { carriesScopeTag, type AppView, type Decision } from './checks.js';
import type { RunContext, VaultIndex } from './context.js';
import { lookUpServicePrincipals } from './gather.js';
import { AdaptiveLimiter } from './limiter.js';
import {
  handedOffEntry,
  previewApp,
  reconcileApp,
  resolveTarget,
  triageListed,
  type ChangedApp,
  type Reconciled,
} from './reconcile.js';
import { summarize, tally, type AppReport, type Report } from './report.js';

export type { ChangedApp, RotationOutcome } from './reconcile.js';

/** What a hand-off strategy answers for an app that needs work: reconcile it now, after the listing, or not here. */
export type Offer = 'now' | 'later' | { handedOff: string };

/** Who else may take an app (a queue worker): see src/handoff.ts for the strategies. */
export interface HandOff {
  /** Asked before an app that needs work is reconciled. `preview` decides it without its lock, changing nothing. */
  offer(app: AppView, preview: () => Promise<Decision>): Promise<Offer>;
  /** After the listing, with the apps offered 'later': a reason hands them all off, undefined reconciles them now. */
  afterListing?(later: readonly AppView[]): string | undefined;
}

export interface RunOptions {
  /** Limit to these apps (by appId); they are reported even when out of scope. */
  appIds?: string[];
  handOff?: HandOff;
  /**
   * Takes each app's entry as soon as it is final, so that a large tenant's report is never held whole (the CLI
   * writes it out as it goes). Entries the notification step may still fill in (rotated, or failed while
   * rotating: `notified`) stay in `report.apps`; `report.summary` counts every app either way.
   */
  stream?: ReportStream;
}

export interface ReportStream {
  /** Once, before any entry. */
  start(head: Pick<Report, 'runId' | 'startedAt' | 'dryRun'>): void;
  app(entry: AppReport): void;
}

export interface RunResult {
  report: Report;
  changed: ChangedApp[];
  /** The run covered the whole scope (no appIds): only then does "not in the report" mean "outside the scope". */
  wholeScope: boolean;
}

/** The run broke off (Graph kept failing the listing); `partial` is what it did, so its owners can still be told. */
export class RunAbortedError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly partial: RunResult,
  ) {
    super(`the run broke off: ${describeError(cause)}`);
  }
}

/** The error to describe to an operator: a broken-off run's cause, else the error itself. */
export const rootCause = (err: unknown): unknown => (err instanceof RunAbortedError ? err.cause : err);

/** The vault's latest tags by name, for a whole-scope run (in parallel with Graph's pages); undefined otherwise. */
export function loadVaultIndex(ctx: Omit<RunContext, 'vaultIndex'>, wholeScope: boolean) {
  const { vault } = ctx.services;
  if (!vault || !wholeScope) return Promise.resolve(undefined);
  return vault.latestTagsByName().catch((err: unknown): VaultIndex | undefined => {
    ctx.log('could not list the Key Vault secrets at once; reading them app by app', {
      error: describeError(err),
    });
    return undefined;
  });
}

/** Runs at most so many apps' work at once. */
export type Limiter = <T>(work: () => Promise<T>) => Promise<T>;

/** The most apps in flight, however well Graph answers (each holds a few sockets and, in Functions, a lease). */
export const MAX_IN_FLIGHT = 256;

/**
 * Concurrent reconciliations: from ROTATION_CONCURRENCY, growing while Graph answers without throttling and halved
 * on its 429s (src/rotation/limiter.ts). `close` stops listening and logs what the limit did.
 */
export function createLimiter(ctx: RunContext): { limit: Limiter; close(): void } {
  const limiter = new AdaptiveLimiter({ min: 1, max: MAX_IN_FLIGHT }, ctx.settings.concurrency, () =>
    ctx.clock.now().getTime(),
  );
  const stop = ctx.services.graph.budget?.onThrottled((ms) => limiter.throttled(ms));
  return {
    limit: limiter.run,
    close() {
      stop?.();
      const { limit, peak, shrinks } = limiter.snapshot;
      ctx.log('concurrency', { initial: ctx.settings.concurrency, peak, final: limit, shrinks });
    },
  };
}

/** The report as it grows: counts every entry, and keeps or streams it. */
class Collector {
  readonly summary = summarize([]);
  /** Entries kept for the report: all of them, or with a stream, those of the changed apps. */
  readonly apps: AppReport[] = [];
  readonly changed: ChangedApp[] = [];

  constructor(private readonly stream?: ReportStream) {}

  /** Without a stream, apps keep the order they were listed in. */
  record(at: number, { entry, changed }: Reconciled): void {
    tally(this.summary, entry.action);
    if (changed) this.changed.push(changed);
    if (this.stream && !changed) this.stream.app(entry);
    else if (this.stream) this.apps.push(entry);
    else this.apps[at] = entry;
  }
}

export async function runRotation(ctx: RunContext, opts: RunOptions = {}): Promise<RunResult> {
  const startedAt = ctx.clock.now().toISOString();
  if (!ctx.dryRun && !ctx.services.vault) throw new Error('KEY_VAULT_URL is required to rotate.');
  opts.stream?.start({ runId: ctx.runId, startedAt, dryRun: ctx.dryRun });
  const out = new Collector(opts.stream);
  const limiter = createLimiter(ctx);
  const limit = limiter.limit;
  const later: Array<{ at: number; app: AppView }> = [];
  const pending: Array<Promise<void>> = [];
  let listed = 0;

  /** An app that needs work: offered for hand-off first (real runs only), then reconciled. */
  const work = async (at: number, app: AppView): Promise<Reconciled | undefined> => {
    const { handOff } = opts;
    // An offer that fails (its preview could not read Key Vault) keeps the app here: reconcile reports the error.
    const offer: Offer =
      ctx.dryRun || !handOff
        ? 'now'
        : await handOff.offer(app, () => previewApp(ctx, app)).catch(() => 'now' as const);
    if (offer === 'later') return void later.push({ at, app });
    if (offer !== 'now') return { entry: handedOffEntry(app, offer.handedOff) };
    return reconcileApp(ctx, app);
  };
  /** A listed app: settled by triage when it can be, else worked on with bounded concurrency. */
  const handle = (at: number, app: AppView): Promise<void> =>
    triageListed(ctx, app)
      .catch(() => undefined) // reconcile reports the error
      .then((settled) => (settled ? { entry: settled } : limit(() => work(at, app))))
      .then((done) => done && out.record(at, done));
  /** An app named by appId: it may be missing or out of scope; whatever Graph says, it is reported on its own. */
  const handleNamed = (at: number, appId: string): Promise<void> =>
    limit(async () => {
      const target = await resolveTarget(ctx, appId);
      if (!('id' in target)) return out.record(at, { entry: target });
      const settled = await triageListed(ctx, target).catch(() => undefined);
      const done = settled ? { entry: settled } : await work(at, target);
      if (done) out.record(at, done);
    });

  try {
    if (opts.appIds?.length) {
      for (const appId of new Set(opts.appIds.map((a) => a.toLowerCase())))
        pending.push(handleNamed(listed++, appId));
    } else {
      const { settings, identity } = ctx;
      const source = settings.scope === 'owned' ? { ownedBy: identity.objectId } : { tag: settings.tag! };
      // At most two pages of apps wait in memory, whatever the tenant's size: the next page is fetched while this
      // one is processed, and only once the page before this one is done. Apps settled at once never wait in the
      // queue behind rotations, so their objects die young.
      let previousPage: Promise<unknown> = Promise.resolve();
      for await (const page of ctx.services.graph.applicationPages(source)) {
        const inScope = page.filter((app) => carriesScopeTag(app, settings.tag));
        lookUpServicePrincipals(ctx, inScope); // §8: one batched lookup per page, before any app is worked on
        const queued = inScope.map((app) => handle(listed++, app));
        await previousPage;
        previousPage = Promise.all(queued);
        pending.push(previousPage.then(() => undefined));
      }
    }
    await Promise.all(pending);
    await settleLater(ctx, opts.handOff, later, out, limit);
  } catch (err) {
    // The run broke off (Graph kept failing the listing). Apps already under way finish, since a rotation is never
    // left half done, and what was done goes out with the error: their owners are still told.
    await Promise.allSettled(pending);
    throw new RunAbortedError(err, result());
  } finally {
    limiter.close();
  }
  return result();

  function result(): RunResult {
    const { runId, dryRun } = ctx;
    const finishedAt = ctx.clock.now().toISOString();
    const report: Report = { runId, startedAt, finishedAt, dryRun, apps: out.apps, summary: out.summary };
    return { report, changed: out.changed, wholeScope: !opts.appIds?.length };
  }
}

/** The apps a hand-off put off until the listing was done: all handed off, or reconciled now. */
async function settleLater(
  ctx: RunContext,
  handOff: HandOff | undefined,
  later: ReadonlyArray<{ at: number; app: AppView }>,
  out: Collector,
  limit: Limiter,
): Promise<void> {
  if (later.length === 0) return;
  const reason = handOff?.afterListing?.(later.map((l) => l.app));
  if (reason) for (const { at, app } of later) out.record(at, { entry: handedOffEntry(app, reason) });
  else
    await Promise.all(
      later.map(({ at, app }) => limit(() => reconcileApp(ctx, app)).then((d) => out.record(at, d))),
    );
}
