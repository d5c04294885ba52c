// Azure Key Vault, through @azure/keyvault-secrets: where each app's secret lives, one version per rotation, and the
// rotator's own state (the pending notifications). The one SecretClient of the product.
import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { sharedHttpClient } from './http-client.js';
import { errorInfo } from '../errors.js';
import type { Settings } from '../settings.js';
import { systemClock, type Clock } from '../util/clock.js';
import { withRetry } from '../util/retry.js';
import { isTimeout, withTimeout } from '../util/timeout.js';

/** What Key Vault says about the app's secret; undefined when it was not read (or there is no vault). */
export interface VaultView {
  /** keyId tag of the latest version, if any. */
  latestKeyId?: string;
  /** keyId tags of every version (a credential whose secret reached Key Vault). */
  storedKeyIds: Set<string>;
}

export interface StoredVersion {
  /** Versioned secret id: what the report calls secretUri. */
  id: string;
  version: string;
}

export interface VaultDetail extends VaultView {
  latestId?: string;
  /** appId tag of the latest version: another app's means two apps share one secret name. */
  latestAppId?: string;
  /** The secret exists (with at least one version). */
  exists?: boolean;
  /** Every tag of the latest version (an owed notice's claim is read and written with them, src/notify/claim.ts). */
  latestTags?: Record<string, string>;
}

/** The latest version's tags a whole run reads from one listing; the notice fields only where `notice` is set. */
export interface LatestTags {
  keyId?: string;
  appId?: string;
  /** `owed`: the rotation's notice was not yet sent or held (src/notify/recover.ts). */
  notice?: string;
  runId?: string;
  createdOn?: Date;
}

/** Name and version of a versioned secret id (`https://<vault>/secrets/<name>/<version>`). */
export function parseSecretUri(secretUri: string): { name: string; version: string } {
  const [, kind, name, version] = new URL(secretUri).pathname.split('/');
  if (kind !== 'secrets' || !name || !version) throw new Error(`not a versioned secret id: ${secretUri}`);
  return { name: decodeURIComponent(name), version };
}

export interface SecretAttributes {
  notBefore?: Date;
  expiresOn?: Date;
  tags: Record<string, string>;
  contentType?: string;
}

/** A hung call must not hold an app's lock forever. */
const CALL_TIMEOUT_MS = 60_000;

export class Vault {
  private readonly client: SecretClient;
  private readonly timeoutMs: number;
  private readonly clock: Clock;

  constructor(
    credential: TokenCredential,
    settings: Pick<Settings, 'keyVaultDisableChallengeVerification'> & { keyVaultUrl: string },
    opts: { timeoutMs?: number; clock?: Clock } = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? CALL_TIMEOUT_MS;
    this.clock = opts.clock ?? systemClock;
    this.client = new SecretClient(settings.keyVaultUrl, credential, {
      disableChallengeResourceVerification: settings.keyVaultDisableChallengeVerification,
      httpClient: sharedHttpClient(),
    });
  }

  /**
   * Runs one Key Vault call with a deadline. The SDK retries lost connections itself but never a call we aborted, so
   * a call that hung is tried again (twice) with a fresh deadline: reads are safe to repeat, and a repeated write
   * only adds an identical version (same value, same tags).
   */
  private timed<T>(call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return withRetry(() => withTimeout(this.timeoutMs, call), {
      attempts: 3,
      clock: this.clock,
      retryable: isTimeout,
      waitMs: () => 0,
    });
  }

  get vaultUrl(): string {
    return this.client.vaultUrl;
  }

  /** Versions' keyId and appId tags, read from properties only: an app's secret value is never read back here. */
  async view(name: string): Promise<VaultDetail> {
    return this.timed(async (abortSignal) => {
      const storedKeyIds = new Set<string>();
      let latest: { created: number; id?: string; tags: Record<string, string> } | undefined;
      try {
        for await (const p of this.client.listPropertiesOfSecretVersions(name, { abortSignal })) {
          const keyId = p.tags?.keyId;
          if (keyId) storedKeyIds.add(keyId);
          const created = p.createdOn?.getTime() ?? 0;
          if (!latest || created >= latest.created) latest = { created, id: p.id, tags: p.tags ?? {} };
        }
      } catch (err) {
        if (errorInfo(err).status !== 404) throw err;
      }
      return {
        storedKeyIds,
        latestKeyId: latest?.tags.keyId,
        latestId: latest?.id,
        latestAppId: latest?.tags.appId,
        exists: latest !== undefined,
        latestTags: latest?.tags,
      };
    });
  }

  /**
   * Every secret's latest keyId and appId tags, by lower-case name, in one listing (25 per page): a whole run
   * needs one pass over the vault instead of one call per app. Values are never listed.
   */
  async latestTagsByName(): Promise<Map<string, LatestTags>> {
    const index = new Map<string, LatestTags>();
    for await (const p of this.client.listPropertiesOfSecrets()) {
      const { keyId, appId, notice, runId } = p.tags ?? {};
      // The notice fields only where a notice is still owed (a few), so a large vault's index stays small.
      index.set(
        p.name.toLowerCase(),
        notice ? { keyId, appId, notice, runId, createdOn: p.createdOn } : { keyId, appId },
      );
    }
    return index;
  }

  /** Replaces the tags of one version (a versioned secret id); its value and dates stay as they are. */
  async retag(secretUri: string, tags: Record<string, string>): Promise<void> {
    const { name, version } = parseSecretUri(secretUri);
    await this.timed((abortSignal) =>
      this.client.updateSecretProperties(name, version, { tags, abortSignal }),
    );
  }

  /**
   * The latest version's value; undefined when the secret does not exist. Only for the rotator's own state and for
   * adopting a hand-kept secret (contract §8: its value must sign in as the app); never logged or reported.
   */
  async value(name: string): Promise<string | undefined> {
    try {
      const s = await this.timed((abortSignal) => this.client.getSecret(name, { abortSignal }));
      return s.value ?? '';
    } catch (err) {
      if (errorInfo(err).status === 404) return undefined;
      throw err;
    }
  }

  async store(name: string, secretText: string, attrs: SecretAttributes): Promise<StoredVersion> {
    const stored = await this.timed((abortSignal) =>
      this.client.setSecret(name, secretText, {
        notBefore: attrs.notBefore,
        expiresOn: attrs.expiresOn,
        tags: attrs.tags,
        contentType: attrs.contentType ?? 'client secret of an Entra app registration',
        abortSignal,
      }),
    );
    return {
      id: stored.properties.id ?? `${this.vaultUrl}/secrets/${name}/${stored.properties.version}`,
      version: stored.properties.version ?? '',
    };
  }
}

/** Key Vault tags: at most 15, values at most 256 characters. */
export function vaultTag(value: string): string {
  return value.length > 256 ? value.slice(0, 255) + '…' : value;
}
