// Per-app rotation locks as blob leases in AzureWebJobsStorage, so that runs at the same time (timer + HTTP,
// two CLIs, many queue workers) rotate each app exactly once.
// The Blob SDK (the largest package of the deployed bundle) is loaded with the first lease, not at import: a CLI
// run without lock storage, and the functions that take no lease, never load it.
import type { TokenCredential } from '@azure/identity';
import type { BlobServiceClient, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { errorInfo } from '../errors.js';
import type { StorageSettings } from '../settings.js';
import { systemClock, type Clock } from '../util/clock.js';
import { withRetry } from '../util/retry.js';

export const LOCK_CONTAINER = 'rotation-locks';
/** Leases last 15-60 s; renewed while the rotation runs, so a crashed holder frees the app within a minute. */
const LEASE_SECONDS = 60;
const RENEW_EVERY_MS = 20_000;

/** The lease blob of a Key Vault secret name (app locks are `<appId>.lock`; a GUID never starts with `secret-`). */
export const secretLockBlob = (secretName: string) => `secret-${secretName.toLowerCase()}.lock`;

export interface AppLock {
  release(): Promise<void>;
}

export async function blobServiceClient(
  storage: StorageSettings,
  credential: TokenCredential,
): Promise<BlobServiceClient> {
  const { BlobServiceClient } = await import('@azure/storage-blob');
  return storage.kind === 'connectionString'
    ? BlobServiceClient.fromConnectionString(storage.connectionString)
    : new BlobServiceClient(storage.blobServiceUri, credential);
}

export class AppLocks {
  /** The lock container, created if missing, on the first lease. */
  private ready?: Promise<ContainerClient>;

  private readonly clock: Clock;

  constructor(
    private readonly storage: StorageSettings,
    private readonly credential: TokenCredential,
    opts: { clock?: Clock } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  private async container(): Promise<ContainerClient> {
    const container = (await blobServiceClient(this.storage, this.credential)).getContainerClient(
      LOCK_CONTAINER,
    );
    await container.createIfNotExists();
    return container;
  }

  /** Takes the app's lease, waiting up to waitMs for another holder; undefined when it stays taken. */
  acquire(appId: string, waitMs: number): Promise<AppLock | undefined> {
    return this.lease(`${appId.toLowerCase()}.lock`, waitMs);
  }

  /**
   * Takes the lease of a Key Vault secret name (contract §8: two apps naming one secret must not both write it).
   * Taken after the app's own lease, never before, so two runs cannot wait on each other.
   */
  acquireSecret(secretName: string, waitMs: number): Promise<AppLock | undefined> {
    return this.lease(secretLockBlob(secretName), waitMs);
  }

  private async lease(blobName: string, waitMs: number): Promise<AppLock | undefined> {
    this.ready ??= this.container();
    const blob = (await this.ready).getBlockBlobClient(blobName);
    const lease = blob.getBlobLeaseClient();
    const held = (err: unknown) => errorInfo(err).status === 409;
    // The lock blob is written once, when its first lease finds it missing: writing it before every lease cost a
    // storage write each time, and in Azurite an orphaned extent each, whose garbage collection (quadratic in
    // LokiJS) froze the emulator for minutes in the 300-app simulated years.
    const acquire = () =>
      lease.acquireLease(LEASE_SECONDS).catch(async (err: unknown) => {
        if (errorInfo(err).status !== 404) throw err;
        await createEmpty(blob);
        return lease.acquireLease(LEASE_SECONDS);
      });
    try {
      await withRetry(acquire, {
        attempts: Infinity,
        deadline: new Date(this.clock.now().getTime() + waitMs),
        clock: this.clock,
        retryable: held,
        backoffMs: () => 1000,
        waitMs: () => undefined,
      });
    } catch (err) {
      if (held(err)) return undefined; // still held by another run when the wait was over
      throw err;
    }
    const renew = setInterval(() => {
      lease.renewLease().catch(() => undefined); // a lost lease shows up as a failed release, not a crash
    }, RENEW_EVERY_MS);
    renew.unref();
    return {
      release: async () => {
        clearInterval(renew);
        await lease.releaseLease().catch(() => undefined);
      },
    };
  }
}

/** An empty lock blob, unless one exists already (another run made it first, or holds its lease). */
async function createEmpty(blob: BlockBlobClient): Promise<void> {
  try {
    await blob.upload('', 0, { conditions: { ifNoneMatch: '*' } });
  } catch (err) {
    const status = errorInfo(err).status;
    if (status !== 409 && status !== 412) throw err;
  }
}
