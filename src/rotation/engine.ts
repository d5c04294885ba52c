// One run over the apps in scope: gather (Graph pages, streamed), decide (pure checks), and for apps that are due,
// rotate under the app's lock, re-deciding inside it. Bounded concurrency across apps; one failing app never
// fails the others. Used by the CLI, the HTTP functions and the queue worker alike.
import type { TokenCredential } from '@azure/identity';
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { GraphApi } from '../azure/graph.js';
import { createCredential, whoAmI, type Identity } from '../azure/identity.js';
import { AppLocks } from '../azure/locks.js';
import { Vault, type VaultDetail } from '../azure/vault.js';
import { describeError } from '../errors.js';
import type { Settings } from '../settings.js';
import { decide, isRotatorMade, mayBeDue, needsVaultView, type AppView } from './checks.js';
import { policyFor } from './policy.js';
import {
  rotate,
  retireSuperseded,
  sweepOrphans,
  type RotationOutcome,
  type StepContext,
} from './protocol.js';
import { summarize, tally, type AppReport, type Report } from './report.js';

export type Logger = (msg: string, fields?: Record<string, unknown>) => void;

export interface RunOptions {
  mode: 'scan' | 'rotate';
  dryRun?: boolean;
  /** Limit to these apps (by appId); they are reported even when out of scope. */
  appIds?: string[];
  force?: boolean;
  now?: () => Date;
  log?: Logger;
  runId?: string;
  /**
   * Offered every app that needs work, just before its rotation starts. A returned reason hands the app to someone
   * else (a queue worker, when an HTTP run's time budget is spent or the timer fans out): it is reported `skipped`
   * with that reason and not touched.
   */
  handOff?: (app: AppView) => string | undefined;
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

/** What the notification step receives for each app that changed (rotated or failed). */
export interface ChangedApp {
  app: AppView;
  report: AppReport;
  outcome?: RotationOutcome;
  notify: string[];
}

export interface Services {
  credential: TokenCredential;
  graph: GraphApi;
  vault?: Vault;
  locks?: AppLocks;
  identity?: Identity;
}

export function createServices(
  settings: Settings,
  credential: TokenCredential = createCredential(settings),
): Services {
  return {
    credential,
    graph: new GraphApi(credential, settings),
    vault: settings.keyVaultUrl
      ? new Vault(credential, { ...settings, keyVaultUrl: settings.keyVaultUrl })
      : undefined,
    locks: settings.storage ? new AppLocks(settings.storage, credential) : undefined,
  };
}

export interface RunResult {
  report: Report;
  changed: ChangedApp[];
  identity: Identity;
  /** The run covered the whole scope (no appIds): only then does "not in the report" mean "outside the scope". */
  wholeScope: boolean;
}

export async function runRotation(
  settings: Settings,
  opts: RunOptions,
  services: Services = createServices(settings),
): Promise<RunResult> {
  const now = opts.now ?? (() => new Date());
  const log: Logger = opts.log ?? (() => undefined);
  const runId = opts.runId ?? randomUUID();
  const startedAt = now().toISOString();
  const dryRun = opts.mode === 'scan' || !!opts.dryRun;
  const identity = (services.identity ??= await whoAmI(services.credential, settings));
  const { graph, vault, locks } = services;
  if (!dryRun && !vault) throw new Error('KEY_VAULT_URL is required to rotate.');

  opts.stream?.start({ runId, startedAt, dryRun });
  const summary = summarize([]);
  /** Entries kept for the report: all of them, or with a stream, those of the changed apps. */
  const apps: AppReport[] = [];
  const changed: ChangedApp[] = [];
  const isChanged = new WeakSet<AppReport>();
  /** Counts an app's entry and keeps or streams it. Without a stream, apps keep the order they were listed in. */
  const record = (at: number, entry: AppReport) => {
    tally(summary, entry.action);
    if (opts.stream && !isChanged.has(entry)) opts.stream.app(entry);
    else if (opts.stream) apps.push(entry);
    else apps[at] = entry;
  };
  let listed = 0;
  const pending: Array<Promise<void>> = [];
  const limit = pLimit(settings.concurrency);
  const ctxFor = (lockHeld: boolean): StepContext => ({
    settings,
    graph,
    vault: vault!,
    identity,
    runId,
    now,
    lockHeld,
    log,
  });

  // One listing of the whole vault per sweep, in parallel with Graph's pages (see needsVaultView). If it fails,
  // every app that needs the vault reads its own versions instead.
  const vaultIndex: Promise<Map<string, { keyId?: string }> | undefined> =
    vault && !opts.appIds?.length
      ? vault.latestTagsByName().catch((err: unknown) => {
          log('could not list the Key Vault secrets at once; reading them app by app', {
            error: describeError(err),
          });
          return undefined;
        })
      : Promise.resolve(undefined);

  const inScope = (app: AppView) => !settings.tag || app.tags.includes(settings.tag);

  /** The report of an app that Graph's data and the vault index settle (most apps of a large tenant, see
   *  needsVaultView), or undefined when the app needs a closer look. */
  const settleQuickly = async (app: AppView): Promise<AppReport | undefined> => {
    const policy = policyFor(app, settings);
    if (opts.force || mayBeDue(app, policy, now())) return undefined;
    const latest =
      policy.ok && app.passwordCredentials.some(isRotatorMade)
        ? (await vaultIndex)?.get(policy.policy.secretName.toLowerCase())?.keyId
        : undefined;
    if (needsVaultView(app, policy, now(), latest)) return undefined;
    const view = latest ? { latestKeyId: latest, storedKeyIds: new Set([latest]) } : undefined;
    const base = { appId: app.appId, displayName: app.displayName };
    return toReport(base, decide({ app, policy, vault: view, now: now(), force: false }), dryRun);
  };

  /** Settles the app from what is already known, else queues it for a closer look (bounded concurrency). */
  const handle = (app: AppView): Promise<AppReport> =>
    settleQuickly(app).then(
      (settled) => settled ?? limit(() => processApp(app)),
      () => limit(() => processApp(app)), // processApp reports the error
    );

  /** An app that needs a closer look: its vault versions, and in a real run the rotation under its lock. */
  const processApp = async (app: AppView): Promise<AppReport> => {
    const base = { appId: app.appId, displayName: app.displayName };
    try {
      if (dryRun) {
        // Deciding needs only the latest keyId: the vault index has it; without one (--app), read this app's.
        const policy = policyFor(app, settings);
        const index = await vaultIndex;
        const latest = policy.ok ? index?.get(policy.policy.secretName.toLowerCase())?.keyId : undefined;
        const view = index
          ? { latestKeyId: latest, storedKeyIds: new Set(latest ? [latest] : []) }
          : vault && policy.ok
            ? await vault.view(policy.policy.secretName)
            : undefined;
        return toReport(base, decide({ app, policy, vault: view, now: now(), force: !!opts.force }), true);
      }
      const handedOff = opts.handOff?.(app);
      if (handedOff) return { ...base, action: 'skipped', reason: handedOff };
      return await rotateUnderLock(app);
    } catch (err) {
      log('app failed', { appId: app.appId, error: describeError(err) });
      return { ...base, action: 'failed', reason: describeError(err) };
    }
  };

  const rotateUnderLock = async (listed: AppView): Promise<AppReport> => {
    const base = { appId: listed.appId, displayName: listed.displayName };
    const lock = locks ? await locks.acquire(listed.appId, settings.lockWaitSeconds * 1000) : undefined;
    if (locks && !lock) return { ...base, action: 'skipped', reason: 'locked by another run' };
    try {
      // Re-gather and re-decide inside the lock: another run may have just rotated this app.
      const fresh = await graph.getApplication(listed.appId);
      if (!fresh)
        return {
          ...base,
          action: 'failed',
          reason: 'not found: the app registration was deleted during the run',
        };
      const policy = policyFor(fresh, settings);
      const freshBase = { appId: fresh.appId, displayName: fresh.displayName };
      if (!policy.ok || policy.policy.disabled || fresh.passwordCredentials.length === 0) {
        return toReport(
          freshBase,
          decide({ app: fresh, policy, vault: undefined, now: now(), force: !!opts.force }),
          false,
        );
      }
      const ctx = ctxFor(!!lock);
      const view: VaultDetail = await vault!.view(policy.policy.secretName);
      if (view.latestAppId && view.latestAppId.toLowerCase() !== fresh.appId.toLowerCase()) {
        // Two apps writing one secret would hand each other's consumers the wrong credential.
        return {
          ...freshBase,
          action: 'failed',
          reason: `Key Vault secret ${policy.policy.secretName} holds the secret of another app (${view.latestAppId}); give this app its own rotation:secretName`,
        };
      }
      const swept = await sweepOrphans(ctx, fresh, view);
      const app = swept.app;
      const decision = decide({ app, policy, vault: view, now: now(), force: !!opts.force });
      const extra = swept.removed.length ? { orphansRemoved: swept.removed } : {};
      if (decision.action === 'skip') return { ...toReport(freshBase, decision, false), ...extra };
      if (decision.action === 'up-to-date') {
        const retire = await retireSuperseded(ctx, app, view, decision.current);
        const r = toReport(freshBase, decision, false);
        return {
          ...r,
          ...extra,
          ...(retire.retired.length ? { retiredKeyIds: retire.retired } : {}),
          ...(retire.notes.length ? { reason: [r.reason, ...retire.notes].join('; ') } : {}),
        };
      }
      const outcome = await rotate(ctx, app, view, { ...decision, policy: policy.policy });
      const report: AppReport = outcome.ok
        ? {
            ...freshBase,
            action: 'rotated',
            keyId: outcome.keyId,
            expiresOn: outcome.expiresOn,
            secretUri: outcome.secretUri,
            retiredKeyIds: outcome.retiredKeyIds,
            reason: [decision.reason, ...outcome.notes].join('; '),
            ...extra,
          }
        : { ...freshBase, action: 'failed', reason: [outcome.reason, ...outcome.notes].join('; '), ...extra };
      changed.push({ app, report, outcome, notify: policy.policy.notify });
      isChanged.add(report);
      log(report.action === 'rotated' ? 'rotated' : 'rotation failed', {
        appId: app.appId,
        keyId: report.keyId,
        reason: report.reason,
      });
      return report;
    } finally {
      await lock?.release();
    }
  };

  async function outOfScope(app: AppView): Promise<string | undefined> {
    if (settings.scope === 'owned' && !(await graph.isOwner(app.id, identity.objectId))) {
      return "not an owner: the rotator's identity does not own this app registration, so it is outside ROTATION_SCOPE=owned (add the identity as an owner to enroll it)";
    }
    if (settings.tag && !app.tags.includes(settings.tag))
      return `not in scope: the app does not carry the tag ${settings.tag} (ROTATION_TAG)`;
    return undefined;
  }

  function result(): RunResult {
    const report: Report = { runId, startedAt, finishedAt: now().toISOString(), dryRun, apps, summary };
    return { report, changed, identity, wholeScope: !opts.appIds?.length };
  }

  /** A listed app (--app): it may be missing or out of scope; whatever Graph says, it is reported on its own. */
  const handleListed = async (appId: string): Promise<AppReport> => {
    const failed = (reason: string, app?: AppView): AppReport => ({
      appId: app?.appId ?? appId,
      displayName: app?.displayName ?? '',
      action: 'failed',
      reason,
    });
    let app: AppView | undefined;
    try {
      app = await graph.getApplication(appId);
      if (!app) return failed(`not found: no app registration with appId ${appId} in the tenant`);
      const out = await outOfScope(app);
      if (out) return failed(out, app);
    } catch (err) {
      return failed(describeError(err), app);
    }
    return (await settleQuickly(app).catch(() => undefined)) ?? processApp(app);
  };

  try {
    if (opts.appIds?.length) {
      for (const appId of [...new Set(opts.appIds.map((a) => a.toLowerCase()))]) {
        const at = listed++;
        pending.push(limit(() => handleListed(appId)).then((entry) => record(at, entry)));
      }
    } else {
      const source = settings.scope === 'owned' ? { ownedBy: identity.objectId } : { tag: settings.tag! };
      // At most two pages of apps wait in memory, whatever the tenant's size: the next page is fetched while this
      // one is processed, and only once the page before this one is done. Apps settled at once never wait in the
      // queue behind rotations, so their objects die young.
      let previousPage: Promise<unknown> = Promise.resolve();
      for await (const page of graph.applicationPages(source)) {
        const queued = page.filter(inScope).map((app) => {
          const at = listed++;
          return handle(app).then((entry) => record(at, entry));
        });
        await previousPage;
        previousPage = Promise.all(queued);
        pending.push(previousPage.then(() => undefined));
      }
    }
    await Promise.all(pending);
  } catch (err) {
    // The run broke off (Graph kept failing the listing). Apps already under way finish, since a rotation is never
    // left half done, and what was done goes out with the error: their owners are still told.
    await Promise.allSettled(pending);
    throw withPartialResult(err, result());
  }
  return result();
}

const partialResults = new WeakMap<object, RunResult>();

function withPartialResult(err: unknown, partial: RunResult): unknown {
  if (typeof err === 'object' && err) partialResults.set(err, partial);
  return err;
}

/** What a run that failed after it started had done (reported and changed apps); undefined if it never started. */
export function partialResultOf(err: unknown): RunResult | undefined {
  return typeof err === 'object' && err ? partialResults.get(err) : undefined;
}

function toReport(
  base: { appId: string; displayName: string },
  d: ReturnType<typeof decide>,
  dryRun: boolean,
): AppReport {
  // Plain literals, not spreads: a large tenant's report holds one of these per app, and a spread object with
  // added fields takes about three times the memory.
  const { appId, displayName } = base;
  if (d.action === 'skip') return { appId, displayName, action: 'skipped', reason: d.reason };
  if (d.action === 'up-to-date')
    return { appId, displayName, action: 'up-to-date', expiresOn: d.current?.endDateTime, reason: d.reason };
  return { appId, displayName, action: dryRun ? 'would-rotate' : 'failed', reason: d.reason };
}
