// Microsoft Graph, through @microsoft/microsoft-graph-client: the app registrations in scope, their owners,
// and addPassword/removePassword. Retries live here, in one place that knows which calls are idempotent.
import type { TokenCredential } from '@azure/identity';
import { Client, RetryHandlerOptions } from '@microsoft/microsoft-graph-client';
import pLimit from 'p-limit';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import type { AppView, Credential } from '../rotation/checks.js';
import { errorInfo } from '../errors.js';
import { graphScope } from './identity.js';
import type { Settings } from '../settings.js';

const APP_SELECT = 'id,appId,displayName,tags,signInAudience,passwordCredentials,keyCredentials';
const PAGE_SIZE = 999; // Graph's maximum: fewest sequential page round-trips
const BATCH_LIMIT = 20;
const BATCHES_IN_FLIGHT = 4;
// The SDK's RetryHandler would also retry a POST that timed out after it committed (503/504), creating a second
// credential; so it is off and `call` below retries with knowledge of idempotency.
const NO_SDK_RETRY = [new RetryHandlerOptions(0, 0)];
// A hung call must not stall the run or keep the app's lock renewed for ever (fetch would wait 300 s for headers).
// A timeout is a lost answer: reads are retried, an addPassword is resolved by looking.
const CALL_TIMEOUT_MS = 60_000;

export interface OwnerObject {
  '@odata.type'?: string;
  id: string;
  mail?: string | null;
  userPrincipalName?: string | null;
  displayName?: string | null;
}

export interface NewPassword extends Credential {
  secretText: string;
}

/** A write whose outcome is unknown (connection lost, gateway timeout): the credential may or may not exist. */
export class AmbiguousWriteError extends Error {
  constructor(override readonly cause: unknown) {
    super('the request may or may not have been carried out');
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RetryPolicy {
  /** Safe to repeat after an unknown outcome (reads, removePassword). */
  idempotent: boolean;
  attempts?: number;
}

export class GraphApi {
  private readonly client: Client;
  /** When Graph says "slow down", every call waits, not only the one that was told (no 429 storms). */
  private pausedUntil = 0;

  private readonly timeoutMs: number;

  constructor(credential: TokenCredential, settings: Settings, opts: { timeoutMs?: number } = {}) {
    this.timeoutMs = opts.timeoutMs ?? CALL_TIMEOUT_MS;
    const base = new URL(settings.graphEndpoint);
    this.client = Client.initWithMiddleware({
      authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [graphScope(settings)] }),
      baseUrl: `${settings.graphEndpoint}/`,
      defaultVersion: 'v1.0',
      // The SDK sends the token only to hosts it knows; the configured endpoint must receive it (national clouds,
      // proxies, the simulator).
      customHosts: new Set([base.hostname]),
    });
  }

  /** Runs one Graph request with pacing and retries. */
  async call<T>(request: (signal: AbortSignal) => Promise<T>, policy: RetryPolicy): Promise<T> {
    const attempts = policy.attempts ?? 6;
    for (let attempt = 1; ; attempt++) {
      const wait = this.pausedUntil - Date.now();
      if (wait > 0) await sleep(wait);
      // A fresh deadline per attempt, its timer cleared as soon as the attempt ends (AbortSignal.timeout would keep
      // every request's state alive for the whole timeout, which over a large sweep is every request at once).
      const controller = new AbortController();
      const timer = setTimeout(
        () => controller.abort(new Error(`no answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      try {
        return await request(controller.signal);
      } catch (err) {
        const { status, message, retryAfterMs } = errorInfo(err);
        const throttled = status === 429 || status === 503;
        if (throttled) {
          const pause = retryAfterMs ?? Math.min(1000 * 2 ** attempt, 30_000);
          this.pausedUntil = Math.max(this.pausedUntil, Date.now() + pause);
        }
        // Graph refuses overlapping writes on one object with a 400 that asks to retry; nothing was done.
        const concurrent = status === 400 && /concurrent/i.test(message);
        const unknownOutcome = status === undefined || (status >= 500 && status !== 503 && status !== 501);
        // A 503 usually means "not done, retry", but a write may still have landed: a non-idempotent call is
        // resolved by looking (the caller's job), never by sending it again blind. A 429 was never carried out.
        if ((unknownOutcome || status === 503) && !policy.idempotent) throw new AmbiguousWriteError(err);
        const retryable = throttled || concurrent || unknownOutcome;
        if (!retryable || attempt >= attempts) throw err;
        if (!throttled) await sleep(Math.min(200 * 2 ** attempt, 5_000) * (0.5 + Math.random()));
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** A request with the attempt's deadline (`call` makes a fresh one per attempt and clears its timer after). */
  private get(path: string, signal: AbortSignal) {
    return this.client.api(path).middlewareOptions(NO_SDK_RETRY).option('signal', signal);
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
      const url: string = next;
      const page = await this.call(
        (signal) => this.get(url, signal).get() as Promise<{ value: AppView[]; '@odata.nextLink'?: string }>,
        {
          idempotent: true,
        },
      );
      yield page.value.map(normalizeApp);
      next = page['@odata.nextLink'];
    }
  }

  async getApplication(appId: string): Promise<AppView | undefined> {
    try {
      const app = await this.call(
        (signal) =>
          this.get(
            `/applications(appId='${encodeURIComponent(appId)}')?$select=${APP_SELECT}`,
            signal,
          ).get() as Promise<AppView>,
        { idempotent: true },
      );
      return normalizeApp(app);
    } catch (err) {
      if (errorInfo(err).status === 404) return undefined;
      throw err;
    }
  }

  async isOwner(appObjectId: string, principalId: string): Promise<boolean> {
    let next: string | undefined = `/applications/${appObjectId}/owners?$select=id&$top=${PAGE_SIZE}`;
    while (next) {
      const url: string = next;
      const page = await this.call(
        (signal) =>
          this.get(url, signal).get() as Promise<{ value: OwnerObject[]; '@odata.nextLink'?: string }>,
        {
          idempotent: true,
        },
      );
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
    const created = await this.call(
      (signal) =>
        this.get(`/applications/${appObjectId}/addPassword`, signal).post(body) as Promise<NewPassword>,
      { idempotent: false },
    );
    return created;
  }

  /** Idempotent: a credential that is already gone (a retry after a lost answer, a person was faster) is done. */
  async removePassword(appObjectId: string, keyId: string): Promise<void> {
    try {
      await this.call(
        (signal) => this.get(`/applications/${appObjectId}/removePassword`, signal).post({ keyId }),
        {
          idempotent: true,
        },
      );
    } catch (err) {
      if (errorInfo(err).status !== 404) throw err;
    }
  }

  /** Owners of many apps in $batch requests of 20 (one round-trip instead of twenty). */
  async ownersOf(appObjectIds: readonly string[]): Promise<Map<string, OwnerObject[]>> {
    const result = new Map<string, OwnerObject[]>();
    const select = 'id,displayName,mail,userPrincipalName';
    const oneBatch = async (ids: readonly string[]) => {
      let pending = ids;
      for (let round = 1; pending.length > 0; round++) {
        const requests = pending.map((id, n) => ({
          id: String(n),
          method: 'GET',
          url: `/applications/${id}/owners?$select=${select}&$top=${PAGE_SIZE}`,
        }));
        const res = await this.call(
          (signal) =>
            this.get('/$batch', signal).post({ requests }) as Promise<{
              responses: Array<{
                id: string;
                status: number;
                headers?: Record<string, string>;
                body?: { value?: OwnerObject[] };
              }>;
            }>,
          { idempotent: true },
        );
        const retry: string[] = [];
        let pauseMs = 0;
        for (const r of res.responses) {
          const appObjectId = pending[Number(r.id)]!;
          if (r.status === 200) result.set(appObjectId, r.body?.value ?? []);
          else if ((r.status === 429 || r.status >= 500) && round < 6) {
            retry.push(appObjectId);
            const ra = Number(r.headers?.['Retry-After'] ?? r.headers?.['retry-after'] ?? 1);
            pauseMs = Math.max(pauseMs, (Number.isFinite(ra) ? ra : 1) * 1000);
          } else result.set(appObjectId, []); // owners unknown: the run still reaches tag and NOTIFY_ALSO recipients
        }
        if (retry.length) {
          this.pausedUntil = Math.max(this.pausedUntil, Date.now() + pauseMs);
        }
        pending = retry;
      }
    };
    // A few batches in flight: after a large run, thousands of changed apps would otherwise wait on one
    // round-trip per 20 apps, one after another, before the first email goes out.
    const batches: string[][] = [];
    for (let i = 0; i < appObjectIds.length; i += BATCH_LIMIT)
      batches.push(appObjectIds.slice(i, i + BATCH_LIMIT));
    const limit = pLimit(BATCHES_IN_FLIGHT);
    await Promise.all(batches.map((ids) => limit(() => oneBatch(ids))));
    return result;
  }

  /** The tenant's maximum password lifetime in days, when the policy is readable and sets one. */
  async passwordLifetimeMaxDays(): Promise<number | undefined> {
    try {
      const policy = (await this.call(
        (signal) => this.get('/policies/defaultAppManagementPolicy', signal).get(),
        {
          idempotent: true,
          attempts: 2,
        },
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

function normalizeApp(a: AppView): AppView {
  return {
    id: a.id,
    appId: a.appId,
    displayName: a.displayName ?? '',
    tags: a.tags ?? [],
    signInAudience: a.signInAudience,
    passwordCredentials: (a.passwordCredentials ?? []).map(credentialOf),
    keyCredentials: (a.keyCredentials ?? []).map(credentialOf),
  };
}

const credentialOf = (c: Credential): Credential => ({
  keyId: c.keyId,
  displayName: c.displayName ?? null,
  startDateTime: c.startDateTime,
  endDateTime: c.endDateTime,
});
