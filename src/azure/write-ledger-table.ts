// The shared write ledger (src/azure/write-ledger.ts) as one row of the run table in AzureWebJobsStorage, which every
// worker of the deployment already reaches: PartitionKey "graph-write-ledger", RowKey a hash of the Graph endpoint
// and tenant. A reservation reads the row, decides (pure), and writes it back only if nobody wrote it since (ETag);
// when someone did, it reads again. The row holds counts and times only.
import type { TokenCredential } from '@azure/identity';
import { createHash } from 'node:crypto';
import { errorInfo } from '../errors.js';
import { withTimeout } from '../util/timeout.js';
import type { Settings, StorageSettings } from '../settings.js';
import type { Clock } from '../util/clock.js';
import type { GraphBudget } from './graph-budget.js';
import { RunTable } from './runs.js';
import {
  emptyLedger,
  pauseLedger,
  reserve,
  SharedWriteTokens,
  type LedgerState,
  type WriteBudgetShape,
  type WriteLedger,
} from './write-ledger.js';

const PARTITION = 'graph-write-ledger';
/** Writers that met each other's ETag this many times in a row: the reservation fails (the write goes unmetered). */
const ATTEMPTS = 12;
/** The bound of one reservation or pause (Storage calls included). */
const LEDGER_TIMEOUT_MS = 10_000;

interface LedgerEntity {
  partitionKey: string;
  rowKey: string;
  /** JSON of LedgerState.grants. */
  grants: string;
  pausedUntil: number;
  /** The Graph endpoint and tenant the row counts for (for a person reading the table). */
  budgetOf: string;
}

export class TableWriteLedger implements WriteLedger {
  private readonly runs: RunTable;
  private readonly rowKey: string;

  constructor(
    storage: StorageSettings,
    credential: TokenCredential,
    private readonly key: string,
    private readonly budget: WriteBudgetShape,
    private readonly clock: Clock,
    private readonly timeoutMs = LEDGER_TIMEOUT_MS,
  ) {
    this.runs = new RunTable(storage, credential, undefined, { clock });
    this.rowKey = createHash('sha256').update(key).digest('hex').slice(0, 32);
  }

  private async read(abortSignal?: AbortSignal): Promise<{ state: LedgerState; etag?: string }> {
    const t = await this.runs.table();
    try {
      const e = await t.getEntity<LedgerEntity>(PARTITION, this.rowKey, { abortSignal });
      const grants = JSON.parse(e.grants) as LedgerState['grants'];
      return { state: { grants, pausedUntil: Number(e.pausedUntil) || 0 }, etag: e.etag };
    } catch (err) {
      if (errorInfo(err).status === 404) return { state: emptyLedger() };
      throw err;
    }
  }

  /** Writes `state` if the row is unchanged since it was read; false when another writer was first. */
  private async write(
    state: LedgerState,
    etag: string | undefined,
    abortSignal?: AbortSignal,
  ): Promise<boolean> {
    const t = await this.runs.table();
    const entity: LedgerEntity = {
      partitionKey: PARTITION,
      rowKey: this.rowKey,
      grants: JSON.stringify(state.grants),
      pausedUntil: state.pausedUntil,
      budgetOf: this.key,
    };
    try {
      if (etag === undefined) await t.createEntity(entity, { abortSignal });
      else await t.updateEntity(entity, 'Replace', { etag, abortSignal });
      return true;
    } catch (err) {
      const { status } = errorInfo(err);
      if (status === 409 || status === 412) return false;
      throw err;
    }
  }

  /**
   * `call`, ended at the deadline even where a Storage call does not listen to the signal (the table's creation on
   * first use, which the run table shares and does not bound).
   */
  private bounded<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return withTimeout(this.timeoutMs, (signal) => {
      const aborted = new Promise<never>((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
      );
      return Promise.race([call(signal), aborted]);
    });
  }

  /** A hung Storage call must not hold a write back: after LEDGER_TIMEOUT_MS the write goes unmetered. */
  reserve(need: number, extra: number, now: number): Promise<{ granted: number; retryAt: number }> {
    return this.bounded((signal) => this.reserveOnce(need, extra, now, signal));
  }

  private async reserveOnce(need: number, extra: number, now: number, signal: AbortSignal) {
    for (let i = 0; i < ATTEMPTS; i++) {
      const { state, etag } = await this.read(signal);
      // Stamped no earlier than now: a later stamp holds the slots longer, never shorter.
      const at = Math.max(now, this.clock.now().getTime());
      const r = reserve(state, at, need, this.budget, extra);
      if (r.granted === 0) return r;
      if (await this.write(r.state, etag, signal)) return r;
    }
    throw new Error('the write ledger was busy');
  }

  /** Bounded like reserve: a hung Storage call after a write 429 must not hold the worker's call for ever. */
  pause(until: number): Promise<void> {
    return this.bounded((signal) => this.pauseOnce(until, signal));
  }

  private async pauseOnce(until: number, signal: AbortSignal): Promise<void> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const { state, etag } = await this.read(signal);
      const next = pauseLedger(state, until);
      if (next === state || (await this.write(next, etag, signal))) return;
    }
  }
}

/**
 * A queue worker's Graph writes take tokens of the shared ledger from now on (once per process: its invocations
 * share one GraphBudget). Nothing to share without AzureWebJobsStorage or with GRAPH_WRITE_BUDGET=0.
 */
export function shareGraphWrites(
  budget: GraphBudget,
  settings: Settings,
  credential: TokenCredential,
  clock: Clock,
): void {
  if (!settings.storage || settings.graphWriteBudget === 0 || budget.writesShared) return;
  const shape = { limit: settings.graphWriteBudget, windowMs: settings.graphWriteWindowSeconds * 1000 };
  const ledger = new TableWriteLedger(settings.storage, credential, budget.key, shape, clock);
  budget.shareWrites(new SharedWriteTokens(ledger, shape, clock));
}
