// The vault's contents: every secret with all its versions, soft-deleted ones included, on the cloud's clock.
// The explicit state object the Key Vault handlers (keyvault/secrets.ts, keyvault/deleted-secrets.ts) work on.
import { randomBytes } from 'node:crypto';
import { SimClock } from '../clock.js';

export interface StoredVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  /** Epoch seconds, as on the wire. */
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

export interface StoredSecret {
  /** The name as first created (lookups are case-insensitive). */
  name: string;
  versions: StoredVersion[];
  deleted?: { deletedDate: number; scheduledPurgeDate: number };
}

/** A version as tests see it. */
export interface SecretVersionView {
  name: string;
  version: string;
  /** Versioned id, `{vault}/secrets/{name}/{version}`. */
  id: string;
  value: string;
  contentType?: string;
  tags: Record<string, string>;
  enabled: boolean;
  notBefore?: Date;
  expiresOn?: Date;
  createdOn: Date;
  updatedOn: Date;
}

export interface SeedVersion {
  tags?: Record<string, string>;
  contentType?: string;
  enabled?: boolean;
  notBefore?: Date;
  expiresOn?: Date;
  /** Defaults to now; set it to seed history (e.g. a version stored 40 days ago). */
  createdOn?: Date;
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/** The vault's contents: every secret with all its versions, including soft-deleted ones. */
export class VaultState {
  private readonly secrets = new Map<string, StoredSecret>();
  /** Every value ever stored, purged ones included: the leak scanner's list. */
  private readonly everStored: string[] = [];
  /** Origin for ids; bound by createKeyVault because the server's port is known only after it listens. */
  private originOf: () => string = () => 'https://vault.invalid';

  /** `clock`: the cloud's clock (created/updated, exp/nbf checks, purge times). */
  constructor(private readonly clock: SimClock = new SimClock()) {}

  private nowSeconds(): number {
    return this.clock.nowSeconds();
  }

  bindOrigin(origin: () => string): void {
    this.originOf = origin;
  }

  get origin(): string {
    return this.originOf();
  }

  /** Latest version of a live (not deleted) secret. */
  latest(name: string): SecretVersionView | undefined {
    const s = this.live(name);
    const v = s?.versions.at(-1);
    return s && v ? this.view(s, v) : undefined;
  }

  /** All versions of a live secret, oldest first. */
  versions(name: string): SecretVersionView[] {
    const s = this.live(name);
    return s ? s.versions.map((v) => this.view(s, v)) : [];
  }

  /** Names of live secrets. */
  names(): string[] {
    return [...this.secrets.values()].filter((s) => !s.deleted).map((s) => s.name);
  }

  /** Names of soft-deleted secrets (recoverable or purgeable). */
  deletedNames(): string[] {
    return [...this.secrets.values()].filter((s) => s.deleted).map((s) => s.name);
  }

  allValues(): string[] {
    return [...this.everStored];
  }

  /** Stores a version directly, bypassing HTTP, auth and limits (test setup). */
  seed(name: string, value: string, opts: SeedVersion = {}): SecretVersionView {
    const created = opts.createdOn ? seconds(opts.createdOn) : this.nowSeconds();
    const v = this.put(name, {
      value,
      tags: opts.tags,
      contentType: opts.contentType,
      enabled: opts.enabled ?? true,
      nbf: opts.notBefore ? seconds(opts.notBefore) : undefined,
      exp: opts.expiresOn ? seconds(opts.expiresOn) : undefined,
      created,
      updated: created,
    });
    return this.view(this.find(name)!, v);
  }

  // --- used by the service ---

  find(name: string): StoredSecret | undefined {
    return this.secrets.get(name.toLowerCase());
  }

  live(name: string): StoredSecret | undefined {
    const s = this.find(name);
    return s && !s.deleted ? s : undefined;
  }

  liveSecrets(): StoredSecret[] {
    return [...this.secrets.values()].filter((s) => !s.deleted).sort((a, b) => cmp(a.name, b.name));
  }

  deletedSecrets(): StoredSecret[] {
    return [...this.secrets.values()].filter((s) => s.deleted).sort((a, b) => cmp(a.name, b.name));
  }

  put(name: string, v: Omit<StoredVersion, 'version'>): StoredVersion {
    let s = this.find(name);
    if (!s) {
      s = { name, versions: [] };
      this.secrets.set(name.toLowerCase(), s);
    }
    const stored: StoredVersion = { ...v, version: randomBytes(16).toString('hex') };
    s.versions.push(stored);
    this.everStored.push(v.value);
    return stored;
  }

  purge(name: string): void {
    this.secrets.delete(name.toLowerCase());
  }

  private view(s: StoredSecret, v: StoredVersion): SecretVersionView {
    return {
      name: s.name,
      version: v.version,
      id: `${this.origin}/secrets/${s.name}/${v.version}`,
      value: v.value,
      contentType: v.contentType,
      tags: { ...(v.tags ?? {}) },
      enabled: v.enabled,
      notBefore: v.nbf === undefined ? undefined : new Date(v.nbf * 1000),
      expiresOn: v.exp === undefined ? undefined : new Date(v.exp * 1000),
      createdOn: new Date(v.created * 1000),
      updatedOn: new Date(v.updated * 1000),
    };
  }
}

export const cmp = (a: string, b: string) =>
  a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0;
