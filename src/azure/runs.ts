// The run-status table: one row per fanned-out run (PartitionKey runId, RowKey "run") and one row per app result
// (RowKey appId), so that queue workers can tell when a run's last app is done and send its digest once.
// Rows never hold a secret: reports and credential metadata only (contract.md §3).
import type { TokenCredential } from '@azure/identity';
import type { TableClient } from '@azure/data-tables';
import { errorInfo } from '../errors.js';
import type { StorageSettings } from '../settings.js';
import { systemClock, type Clock } from '../util/clock.js';
import { withRetry } from '../util/retry.js';
import type { AppView } from './graph-types.js';

/**
 * A report entry as the run table stores it (the report's app entry, contract §5). Declared here, not imported from
 * the report, so that adapters depend on no domain module; the shapes are the same.
 */
export interface StoredAppReport {
  appId: string;
  displayName: string;
  action: 'rotated' | 'up-to-date' | 'would-rotate' | 'skipped' | 'failed';
  keyId?: string;
  expiresOn?: string;
  secretUri?: string;
  retiredKeyIds?: string[];
  notified?: string[];
  reason?: string;
  orphansRemoved?: string[];
}

/** A rotation's outcome as the digest reads it back (the engine's RotationOutcome is this shape). */
export interface StoredOutcome {
  ok: boolean;
  keyId?: string;
  credentialName?: string;
  expiresOn?: string;
  secretUri?: string;
  retiredKeyIds: string[];
  /** Of retiredKeyIds, those an emergency run revoked (contract §8): they no longer work. */
  revokedKeyIds?: string[];
  supersededKeyIds: string[];
  notes: string[];
  reason?: string;
  /** A notice taken over from another run (src/notify/recover.ts): that run's id, as its Key Vault version names it. */
  noticeRunId?: string;
  /** A notice taken over: when its secret was stored (retirement counts from then, not from the notice). */
  storedAt?: string;
}

/** What the digest needs about a rotated or failed app (the engine's ChangedApp, slimmed by toStoredChange). */
export interface StoredChange {
  app: AppView;
  report: StoredAppReport;
  notify: string[];
  outcome?: StoredOutcome;
}

export const RUNS_TABLE = 'rotationruns';
const RUN_ROW = 'run';
const QUEUED_PREFIX = 'queued-';

export interface RunRow {
  runId: string;
  trigger: 'timer' | 'http';
  /** The run covered the whole scope (no appIds): only then does its digest carry REMIND_UNMANAGED reminders. */
  wholeScope: boolean;
  startedAt: string;
  /** Apps the run listed. */
  scanned: number;
  /** Apps handed to queue workers: the run is complete when this many worker (or poison) rows exist. */
  queued: number;
  rotatedInline: number;
  failedInline: number;
  /**
   * Worker and poison rows recorded so far, counted in the transaction that creates each (so never more or less
   * than there are): the last worker knows the run is complete without reading every row. Undefined on rows
   * written before it was kept.
   */
  completed?: number;
  digestClaimedAt?: string;
  digestSentAt?: string;
  digestNotes?: string[];
  /** The HTTP caller who started the run (contract §8). */
  requestedBy?: { oid: string; appId?: string; name?: string };
  /**
   * What the run was allowed to do to the apps it queued. A queue message may narrow it, never widen it: whoever can
   * write to the queue must not be able to force a rotation or revoke people's secrets (see fromQueue).
   */
  force?: boolean;
  revokeSuperseded?: boolean;
  etag?: string;
}

export type AppSource = 'inline' | 'worker' | 'poison';

export interface AppRow {
  runId: string;
  appId: string;
  source: AppSource;
  report: StoredAppReport;
  /** What the digest needs about a rotated or failed app (see toStoredChange). */
  changed?: StoredChange;
  updatedAt: string;
}

interface Entity {
  partitionKey: string;
  rowKey: string;
  kind: 'run' | 'app';
  [k: string]: unknown;
}

/** Only what notifyOwners reads: the app's identity, the credentials it superseded, and the tag recipients. */
function toStoredChange(c: StoredChange): StoredChange {
  const superseded = new Set(c.outcome?.supersededKeyIds ?? []);
  const app: AppView = {
    id: c.app.id,
    appId: c.app.appId,
    displayName: c.app.displayName,
    tags: [],
    passwordCredentials: c.app.passwordCredentials
      .filter((p) => superseded.has(p.keyId))
      .map(({ keyId, displayName, startDateTime, endDateTime }) => ({
        keyId,
        displayName,
        startDateTime,
        endDateTime,
      })),
  };
  return {
    app,
    report: c.report,
    notify: c.notify,
    outcome: c.outcome && {
      ok: c.outcome.ok,
      keyId: c.outcome.keyId,
      credentialName: c.outcome.credentialName,
      expiresOn: c.outcome.expiresOn,
      secretUri: c.outcome.secretUri,
      retiredKeyIds: c.outcome.retiredKeyIds,
      supersededKeyIds: c.outcome.supersededKeyIds,
      notes: [],
    },
  };
}

const json = (s: unknown) => (typeof s === 'string' && s ? (JSON.parse(s) as unknown) : undefined);

/** A later, weaker result (a duplicate delivery finding the app up to date) never hides this run's rotation. */
function keepsExisting(existing: StoredAppReport, next: StoredAppReport): boolean {
  return existing.action === 'rotated' && next.action !== 'rotated';
}

// The Tables SDK is loaded with the first use of a table, not at import: a run that never fans out (the CLI, an
// inline timer run) never loads it (issue 15: start-up CPU).
const tablesSdk = () => import('@azure/data-tables');

export class RunTable {
  /** The table client, once the table exists. */
  private ready?: Promise<TableClient>;

  private readonly clock: Clock;

  constructor(
    private readonly storage: StorageSettings,
    private readonly credential: TokenCredential,
    private readonly tableName = RUNS_TABLE,
    opts: { clock?: Clock } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  /** The table client, the table created if missing (also for reads this class does not name: status). */
  table(): Promise<TableClient> {
    this.ready ??= this.connect();
    return this.ready;
  }

  private async connect(): Promise<TableClient> {
    const { TableClient } = await tablesSdk();
    const { storage, tableName } = this;
    let client: TableClient;
    if (storage.kind === 'connectionString') {
      // The SDK refuses shared keys over http; only the local emulator (Azurite) is reached over http.
      const insecure = /TableEndpoint=http:\/\/(127\.0\.0\.1|localhost)[:/]/i.test(storage.connectionString);
      client = TableClient.fromConnectionString(storage.connectionString, tableName, {
        allowInsecureConnection: insecure,
      });
    } else {
      client = new TableClient(storage.tableServiceUri, tableName, this.credential);
    }
    await client.createTable(); // succeeds when it exists already
    return client;
  }

  async createRun(run: Omit<RunRow, 'etag'>): Promise<void> {
    const t = await this.table();
    await t.upsertEntity<Entity>(
      {
        partitionKey: run.runId,
        rowKey: RUN_ROW,
        kind: 'run',
        trigger: run.trigger,
        wholeScope: run.wholeScope,
        startedAt: run.startedAt,
        scanned: run.scanned,
        queued: run.queued,
        rotatedInline: run.rotatedInline,
        failedInline: run.failedInline,
        completed: 0,
        digestSentAt: run.digestSentAt,
        digestNotes: run.digestNotes ? JSON.stringify(run.digestNotes) : undefined,
        requestedBy: run.requestedBy ? JSON.stringify(run.requestedBy) : undefined,
        force: run.force,
        revokeSuperseded: run.revokeSuperseded,
      },
      'Replace',
    );
  }

  /**
   * The appIds a fanned-out run handed to its workers, one row each (RowKey `queued-<appId>`), written before the
   * messages are queued: a queue message naming this run and any other app is refused (issue 13).
   */
  async recordQueued(runId: string, appIds: readonly string[]): Promise<void> {
    const t = await this.table();
    // A transaction holds at most 100 entities of one partition.
    for (let i = 0; i < appIds.length; i += 100) {
      await t.submitTransaction(
        appIds
          .slice(i, i + 100)
          .map((appId) => [
            'upsert',
            { partitionKey: runId, rowKey: `${QUEUED_PREFIX}${appId.toLowerCase()}`, kind: 'queued' },
          ]),
      );
    }
  }

  /** Whether the run queued this app for a worker (see recordQueued). */
  async wasQueued(runId: string, appId: string): Promise<boolean> {
    const t = await this.table();
    try {
      await t.getEntity(runId, `${QUEUED_PREFIX}${appId.toLowerCase()}`);
      return true;
    } catch (err) {
      if (errorInfo(err).status === 404) return false;
      throw err;
    }
  }

  async getRun(runId: string): Promise<RunRow | undefined> {
    const t = await this.table();
    try {
      const e = await t.getEntity<Record<string, unknown>>(runId, RUN_ROW);
      return {
        runId,
        trigger: e.trigger as RunRow['trigger'],
        wholeScope: e.wholeScope === true,
        startedAt: String(e.startedAt),
        scanned: Number(e.scanned),
        queued: Number(e.queued),
        rotatedInline: Number(e.rotatedInline),
        failedInline: Number(e.failedInline),
        completed: e.completed === undefined ? undefined : Number(e.completed),
        digestClaimedAt: e.digestClaimedAt as string | undefined,
        digestSentAt: e.digestSentAt as string | undefined,
        digestNotes: json(e.digestNotes) as string[] | undefined,
        requestedBy: json(e.requestedBy) as RunRow['requestedBy'],
        force: e.force === true,
        revokeSuperseded: e.revokeSuperseded === true,
        etag: e.etag,
      };
    } catch (err) {
      if (errorInfo(err).status === 404) return undefined;
      throw err;
    }
  }

  /** Merges fields into the run row only if it is unchanged since it was read (ETag); false when someone was first. */
  async updateRun(
    run: RunRow,
    fields: Partial<Pick<RunRow, 'digestClaimedAt' | 'digestSentAt' | 'digestNotes'>>,
  ) {
    const t = await this.table();
    try {
      await t.updateEntity(
        {
          partitionKey: run.runId,
          rowKey: RUN_ROW,
          ...fields,
          ...(fields.digestNotes ? { digestNotes: JSON.stringify(fields.digestNotes) } : {}),
        },
        'Merge',
        { etag: run.etag },
      );
      return true;
    } catch (err) {
      if (errorInfo(err).status === 412) return false;
      throw err;
    }
  }

  /** Records one app's result; a rotation already recorded for this run is kept (ETag-guarded against races). */
  async recordApp(
    runId: string,
    source: AppSource,
    report: StoredAppReport,
    changed?: StoredChange,
  ): Promise<AppRow> {
    const t = await this.table();
    const row: AppRow = {
      runId,
      appId: report.appId.toLowerCase(),
      source,
      report,
      changed: changed && toStoredChange(changed),
      updatedAt: this.clock.now().toISOString(),
    };
    const entity: Entity = {
      partitionKey: runId,
      rowKey: row.appId,
      kind: 'app',
      source,
      action: report.action,
      report: JSON.stringify(report),
      changed: row.changed ? JSON.stringify(row.changed) : undefined,
      updatedAt: row.updatedAt,
    };
    // Optimistic concurrency: another worker's write in between (409 on create, 412 on replace) means read again.
    return withRetry(
      async () => {
        const existing = await this.getApp(runId, row.appId);
        if (!existing) {
          await this.createCounted(t, entity, source);
          return row;
        }
        if (keepsExisting(existing.report, report)) return existing;
        await t.updateEntity(entity, 'Replace', { etag: existing.etag });
        return row;
      },
      {
        // Every worker of a run counts on its run row: under contention a few tries more, a little apart.
        attempts: 20,
        clock: this.clock,
        retryable: (err) => [409, 412].includes(errorInfo(err).status ?? 0),
        waitMs: () => Math.floor(Math.random() * 50),
      },
    );
  }

  /** Creates a worker or poison row and counts it on the run row, in one transaction (ETag-guarded). */
  private async createCounted(t: TableClient, entity: Entity, source: AppSource): Promise<void> {
    const run = source === 'inline' ? undefined : await this.getRun(entity.partitionKey);
    if (!run || run.completed === undefined) return void (await t.createEntity(entity));
    await t.submitTransaction([
      ['create', entity],
      [
        'update',
        { partitionKey: run.runId, rowKey: RUN_ROW, completed: run.completed + 1 },
        'Merge',
        { etag: run.etag },
      ],
    ]);
  }

  async getApp(runId: string, appId: string): Promise<(AppRow & { etag: string }) | undefined> {
    const t = await this.table();
    try {
      const e = await t.getEntity<Record<string, unknown>>(runId, appId.toLowerCase());
      return { ...fromEntity(runId, e), etag: e.etag };
    } catch (err) {
      if (errorInfo(err).status === 404) return undefined;
      throw err;
    }
  }

  async listApps(runId: string): Promise<AppRow[]> {
    const t = await this.table();
    const { odata } = await tablesSdk();
    const rows: AppRow[] = [];
    const filter = odata`PartitionKey eq ${runId} and kind eq 'app'`;
    for await (const e of t.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      rows.push(fromEntity(runId, e));
    }
    return rows;
  }
}

function fromEntity(runId: string, e: Record<string, unknown>): AppRow {
  return {
    runId,
    appId: String(e.rowKey),
    source: e.source as AppSource,
    report: json(e.report) as StoredAppReport,
    changed: json(e.changed) as StoredChange | undefined,
    updatedAt: String(e.updatedAt),
  };
}
