// Microsoft Graph, through @microsoft/microsoft-graph-client: the app registrations in scope, their owners and
// service principals, and addPassword/removePassword. Retries live here, in one place that knows which calls are
// idempotent.
import type { TokenCredential } from '@azure/identity';
import { RetryHandlerOptions, type Client } from '@microsoft/microsoft-graph-client';
import pLimit from 'p-limit';
import { errorInfo } from '../errors.js';
import { sharedGraphBudget, type GraphBudget } from './graph-budget.js';
import { graphClient } from './graph-transport.js';
import {
  credentialOf,
  normalizeApp,
  type AppView,
  type Credential,
  type NewPassword,
  type OwnerObject,
} from './graph-types.js';
import type { Settings } from '../settings.js';
import { systemClock, type Clock } from '../util/clock.js';
import { withTimeout } from '../util/timeout.js';
import { exponentialBackoff, headerGetter, parseRetryAfter, retryAfterOf, withRetry } from '../util/retry.js';

export type { AppView, Credential, NewPassword, OwnerObject };

/** A write whose outcome is unknown (connection lost, gateway timeout): the credential may or may not exist. */
export class AmbiguousWriteError extends Error {
  constructor(override readonly cause: unknown) {
    super('the request may or may not have been carried out');
  }
}

const APP_SELECT = 'id,appId,displayName,tags,signInAudience,passwordCredentials,keyCredentials';
const PAGE_SIZE = 999; // Graph's maximum: fewest sequential page round-trips
const BATCH_LIMIT = 20;
const BATCHES_IN_FLIGHT = 4;
/**
 * Tries of one page of the app listing. The whole run stands on it (a page that fails ends the run, and no app is
 * reported), so a burst of throttling is waited out longer than one app's read: 6 tries ended a daily run on
 * 6 throttled answers in a row (the soak's stuck-app-reported-failed finding). Each 429 waits its Retry-After.
 */
const LISTING_ATTEMPTS = 12;
/** Graph allows at most 15 values in an `in` filter (learn.microsoft.com/graph/filter-query-parameter). */
const IN_FILTER_LIMIT = 15;
// The SDK's RetryHandler would also retry a POST that timed out after it committed (503/504), creating a second
// credential; so it is off and `call` below retries with knowledge of idempotency.
const NO_SDK_RETRY = [new RetryHandlerOptions(0, 0)];
// A hung call must not stall the run or keep the app's lock renewed for ever (fetch would wait 300 s for headers).
// A timeout is a lost answer: reads are retried, an addPassword is resolved by looking.
const CALL_TIMEOUT_MS = 60_000;

interface RetryPolicy {
  /** Safe to repeat after an unknown outcome (reads, removePassword). */
  idempotent: boolean;
  attempts?: number;
}

interface Page<T> {
  value: T[];
  '@odata.nextLink'?: string;
}

export interface BatchResponse {
  id: string;
  status: number;
  headers?: Record<string, string>;
  body?: { value?: unknown[] };
}

/** Some sub-requests of a $batch were throttled or failed on the server: they are sent again. */
class BatchIncomplete extends Error {}

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

export interface GraphOptions {
  timeoutMs?: number;
  clock?: Clock;
}

export class GraphApi {
  private readonly client: Client;
  /** When Graph says "slow down", every call of the process waits, not only the one that was told (no 429 storms). */
  readonly budget: GraphBudget;
  private readonly timeoutMs: number;
  private readonly clock: Clock;

  constructor(credential: TokenCredential, settings: Settings, opts: GraphOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? CALL_TIMEOUT_MS;
    this.clock = opts.clock ?? systemClock;
    this.budget = sharedGraphBudget(this.clock, `${settings.graphEndpoint} ${settings.tenantId ?? ''}`);
    this.client = graphClient(credential, settings);
  }

  private pause(ms: number, err?: unknown): void {
    const { status } = errorInfo(err);
    const scope = (err as { headers?: unknown } | undefined)?.headers;
    this.budget.throttled(ms, {
      status: status ?? 503,
      scope: headerGetter(scope)?.('x-ms-throttle-scope') ?? undefined,
    });
  }

  /** One attempt: waits out a shared pause, runs with a deadline, and classifies a failure. */
  private async attempt<T>(
    request: (signal: AbortSignal) => Promise<T>,
    policy: RetryPolicy,
    n: number,
  ): Promise<T> {
    await this.budget.ready();
    try {
      return await withTimeout(this.timeoutMs, request);
    } catch (err) {
      const { status } = errorInfo(err);
      if (status === 429 || status === 503)
        this.pause(retryAfterOf(err, this.clock.now()) ?? Math.min(1000 * 2 ** n, 30_000), err);
      // A 503 usually means "not done, retry", but a write may still have landed: a non-idempotent call is
      // resolved by looking (the caller's job), never by sending it again blind. A 429 was never carried out.
      if ((unknownOutcome(status) || status === 503) && !policy.idempotent)
        throw new AmbiguousWriteError(err);
      throw err;
    }
  }

  /** Runs one Graph request with pacing and retries. */
  call<T>(request: (signal: AbortSignal) => Promise<T>, policy: RetryPolicy): Promise<T> {
    return withRetry((n) => this.attempt(request, policy, n), {
      attempts: policy.attempts ?? 6,
      clock: this.clock,
      retryable: (err) => !(err instanceof AmbiguousWriteError) && retryable(err),
      // A throttled call already set the shared pause, which the next attempt waits out.
      waitMs: (err) => (isThrottled(err) ? 0 : undefined),
      backoffMs: exponentialBackoff(400, 5_000),
    });
  }

  /** A request with the attempt's deadline (`call` makes a fresh one per attempt and clears its timer after). */
  private get(path: string, signal: AbortSignal) {
    return this.client.api(path).middlewareOptions(NO_SDK_RETRY).option('signal', signal);
  }

  private read<T>(path: string, attempts?: number): Promise<T> {
    return this.call((signal) => this.get(path, signal).get() as Promise<T>, { idempotent: true, attempts });
  }

  /** Pages of app registrations, streamed: `owned` via the rotator's ownedObjects, `tagged` via a tag filter. */
  async *applicationPages(source: { ownedBy: string } | { tag: string } | 'all'): AsyncGenerator<AppView[]> {
    let next: string | undefined;
    if (source === 'all') next = `/applications?$select=${APP_SELECT}&$top=${PAGE_SIZE}`;
    else if ('ownedBy' in source) {
      next = `/servicePrincipals/${encodeURIComponent(source.ownedBy)}/ownedObjects/microsoft.graph.application?$select=${APP_SELECT}&$top=${PAGE_SIZE}`;
    } else {
      const filter = encodeURIComponent(`tags/any(t:t eq '${source.tag}')`);
      next = `/applications?$filter=${filter}&$select=${APP_SELECT}&$top=${PAGE_SIZE}`;
    }
    while (next) {
      const page: Page<AppView> = await this.read<Page<AppView>>(next, LISTING_ATTEMPTS);
      yield page.value.map(normalizeApp);
      next = page['@odata.nextLink'];
    }
  }

  async getApplication(appId: string): Promise<AppView | undefined> {
    try {
      return normalizeApp(
        await this.read<AppView>(`/applications(appId='${encodeURIComponent(appId)}')?$select=${APP_SELECT}`),
      );
    } catch (err) {
      if (errorInfo(err).status === 404) return undefined;
      throw err;
    }
  }

  /** The app's password credentials by object id; undefined when the app is gone. */
  async passwordCredentials(appObjectId: string): Promise<Credential[] | undefined> {
    try {
      const app = await this.read<AppView>(`/applications/${appObjectId}?$select=id,passwordCredentials`);
      return (app.passwordCredentials ?? []).map(credentialOf);
    } catch (err) {
      if (errorInfo(err).status === 404) return undefined;
      throw err;
    }
  }

  async isOwner(appObjectId: string, principalId: string): Promise<boolean> {
    let next: string | undefined = `/applications/${appObjectId}/owners?$select=id&$top=${PAGE_SIZE}`;
    while (next) {
      const page: Page<OwnerObject> = await this.read<Page<OwnerObject>>(next);
      if (page.value.some((o) => o.id === principalId)) return true;
      next = page['@odata.nextLink'];
    }
    return false;
  }

  /** addPassword is not idempotent (no idempotency key, secret shown once): never retried on an unknown outcome. */
  async addPassword(
    appObjectId: string,
    p: { displayName: string; endDateTime: Date; startDateTime?: Date },
  ): Promise<NewPassword> {
    const body = {
      passwordCredential: {
        displayName: p.displayName,
        endDateTime: p.endDateTime.toISOString(),
        ...(p.startDateTime ? { startDateTime: p.startDateTime.toISOString() } : {}),
      },
    };
    return this.budget.write(() =>
      this.call(
        (signal) =>
          this.get(`/applications/${appObjectId}/addPassword`, signal).post(body) as Promise<NewPassword>,
        { idempotent: false },
      ),
    );
  }

  /**
   * Removes a password credential. The documentation promises only 204; what Graph answers for a keyId that is
   * already gone (a retry after a lost answer, a person was faster) is not promised (404 or 400). So a failed
   * removal is decided from state: the app's credentials are read again, and a keyId that is gone is done.
   */
  async removePassword(appObjectId: string, keyId: string): Promise<void> {
    try {
      await this.budget.write(() =>
        this.call(
          (signal) => this.get(`/applications/${appObjectId}/removePassword`, signal).post({ keyId }),
          { idempotent: true },
        ),
      );
    } catch (err) {
      const left = await this.passwordCredentials(appObjectId).catch(() => {
        throw err; // cannot tell: the removal's own error says more than the re-read's
      });
      if (left?.some((c) => c.keyId.toLowerCase() === keyId.toLowerCase()) ?? false) throw err;
    }
  }

  /**
   * GETs in $batch requests of 20, a few in flight. Sub-requests that are throttled or fail on the server are sent
   * again (6 rounds at most, after their Retry-After); the last answer of each is returned, in `paths` order.
   */
  private async batchGet(paths: readonly string[]): Promise<BatchResponse[]> {
    const results: BatchResponse[] = [];
    const oneBatch = async (indices: number[]) => {
      let pending = indices;
      await withRetry(
        async () => {
          const requests = pending.map((i) => ({ id: String(i), method: 'GET', url: paths[i] }));
          await this.budget.bulkRead(requests.length); // at least one resource unit each
          const res = await this.call(
            (signal) =>
              this.get('/$batch', signal).post({ requests }) as Promise<{ responses: BatchResponse[] }>,
            { idempotent: true },
          );
          const said = readBudgetHeaders(res.responses, this.clock.now());
          this.budget.readBudgetSaid(said.usedFraction, BATCH_LIMIT);
          for (const r of res.responses) results[Number(r.id)] = r;
          pending = said.retry.map(Number);
          if (pending.length) {
            if (said.throttleScope !== undefined)
              this.budget.throttled(said.pauseMs, { status: 429, scope: said.throttleScope });
            else this.pause(said.pauseMs);
            throw new BatchIncomplete();
          }
        },
        { attempts: 6, clock: this.clock, retryable: (e) => e instanceof BatchIncomplete, waitMs: () => 0 },
      ).catch((err: unknown) => {
        if (!(err instanceof BatchIncomplete)) throw err; // the rest keep their last (failed) answer
      });
    };
    // A few batches in flight: after a large run, thousands of changed apps would otherwise wait on one
    // round-trip per 20 apps, one after another, before the first email goes out.
    const batches: number[][] = [];
    for (let i = 0; i < paths.length; i += BATCH_LIMIT)
      batches.push(paths.slice(i, i + BATCH_LIMIT).map((_, k) => i + k));
    const limit = pLimit(BATCHES_IN_FLIGHT);
    await Promise.all(batches.map((b) => limit(() => oneBatch(b))));
    return results;
  }

  /** Owners of many apps in $batch requests of 20 (one round-trip instead of twenty). */
  async ownersOf(appObjectIds: readonly string[]): Promise<Map<string, OwnerObject[]>> {
    const select = 'id,displayName,mail,userPrincipalName';
    const responses = await this.batchGet(
      appObjectIds.map((id) => `/applications/${id}/owners?$select=${select}&$top=${PAGE_SIZE}`),
    );
    // An app whose owners stay unknown (a sub-request that kept failing) is left out of the map, so the caller can
    // tell "no owners" from "not known" (notify keeps such a rotation's notice owed for a later run).
    const owners = new Map<string, OwnerObject[]>();
    appObjectIds.forEach((id, i) => {
      const r = responses[i];
      if (r?.status === 200) owners.set(id, (r.body?.value ?? []) as OwnerObject[]);
    });
    return owners;
  }

  /**
   * Which of these appIds have a service principal in this tenant (lower-case). Entra refuses a client-credentials
   * sign-in without one (AADSTS7000229), so a new secret of such an app can never be proven. 15 appIds per `in`
   * filter, 20 filters per $batch: 300 apps per round-trip. Throws when Graph does not answer for some of them.
   */
  async appIdsWithServicePrincipal(appIds: readonly string[]): Promise<Set<string>> {
    const unique = [...new Set(appIds.map((a) => a.toLowerCase()))];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += IN_FILTER_LIMIT)
      chunks.push(unique.slice(i, i + IN_FILTER_LIMIT));
    const responses = await this.batchGet(
      chunks.map((c) => {
        const filter = encodeURIComponent(`appId in (${c.map(quote).join(',')})`);
        return `/servicePrincipals?$filter=${filter}&$select=appId&$top=${PAGE_SIZE}`;
      }),
    );
    const found = new Set<string>();
    responses.forEach((r) => {
      if (r.status !== 200) {
        const e = r.body as { error?: { code?: string; message?: string } } | undefined;
        throw new Error(
          `Graph could not list service principals (${r.status} ${e?.error?.code ?? ''}: ${e?.error?.message ?? ''})`,
        );
      }
      for (const sp of (r.body?.value ?? []) as Array<{ appId?: string }>)
        if (sp.appId) found.add(sp.appId.toLowerCase());
    });
    return found;
  }

  /**
   * Whether this app has a service principal here, read on its own (GET, not $batch): the second opinion when a
   * batched lookup failed, so that a $batch outage alone does not stop rotations.
   */
  async hasServicePrincipal(appId: string): Promise<boolean> {
    try {
      await this.read(`/servicePrincipals(appId='${encodeURIComponent(appId)}')?$select=id`);
      return true;
    } catch (err) {
      if (errorInfo(err).status === 404) return false;
      throw err;
    }
  }

  /** The tenant's maximum password lifetime in days, when the policy is readable and sets one. */
  async passwordLifetimeMaxDays(): Promise<number | undefined> {
    try {
      const policy = (await this.call(
        (signal) => this.get('/policies/defaultAppManagementPolicy', signal).get(),
        { idempotent: true, attempts: 2 },
      )) as {
        applicationRestrictions?: {
          passwordCredentials?: Array<{ restrictionType?: string; maxLifetime?: string | null }>;
        };
      };
      const r = policy.applicationRestrictions?.passwordCredentials?.find(
        (p) => p.restrictionType === 'passwordLifetime',
      );
      const m = r?.maxLifetime ? /^P(\d+)D$/.exec(r.maxLifetime) : null;
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined; // needs Policy.Read.All, which the rotator does not ask for: fall back
    }
  }
}

/**
 * What a $batch's sub-responses say: which to send again (throttled or failed on the server) and after how long,
 * the scope of a throttling (a 429's x-ms-throttle-scope, '' when it names none), and the highest used fraction of
 * the resource-unit budget (x-ms-throttle-limit-percentage; 1 when a sub-request met the budget).
 */
export function readBudgetHeaders(responses: readonly BatchResponse[], now: Date) {
  const retry: string[] = [];
  let pauseMs = 0;
  let usedFraction = 0;
  let throttleScope: string | undefined;
  for (const r of responses) {
    const get = headerGetter(r.headers);
    usedFraction = Math.max(usedFraction, Number(get?.('x-ms-throttle-limit-percentage') ?? 0) || 0);
    if (r.status !== 429 && r.status < 500) continue;
    retry.push(r.id);
    pauseMs = Math.max(pauseMs, (get && parseRetryAfter(get, now)) ?? 1000);
    if (r.status !== 429) continue;
    const scope = get?.('x-ms-throttle-scope') ?? '';
    throttleScope ??= scope;
    // A 429 of the resource-unit budget (not of a write budget, nor a bare one): the window is full.
    if (scope && !/\/Write\//i.test(scope)) usedFraction = Math.max(usedFraction, 1);
  }
  return { retry, pauseMs, usedFraction, throttleScope };
}

/** No HTTP status (connection lost, our timeout) or a server error that may have been carried out. */
const unknownOutcome = (status: number | undefined) =>
  status === undefined || (status >= 500 && status !== 503 && status !== 501);

const isThrottled = (err: unknown) => {
  const { status } = errorInfo(err);
  return status === 429 || status === 503;
};

function retryable(err: unknown): boolean {
  const { status, message } = errorInfo(err);
  // Graph refuses overlapping writes on one object with a 400 that asks to retry; nothing was done.
  const concurrent = status === 400 && /concurrent/i.test(message);
  return isThrottled(err) || concurrent || unknownOutcome(status);
}
