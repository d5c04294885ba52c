// The small parsers behind src/settings.ts. Every failure is one line naming the setting, what was wrong and what
// is accepted (contract §1).

export type Env = Record<string, string | undefined>;

export class SettingsError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(message);
    this.name = 'SettingsError';
  }
}

/** Values that are empty or only whitespace count as unset (Function App settings are often left empty). */
export function read(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function fail(name: string, value: string | undefined, problem: string, accepted: string): never {
  const shown =
    value === undefined ? '' : ` ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)}`;
  throw new SettingsError(name, `Setting ${name}${shown} is invalid: ${problem}. ${accepted}`);
}

export function parseWholeNumber(value: string): number | undefined {
  return /^[0-9]{1,9}$/.test(value) ? Number(value) : undefined;
}

export function integerSetting(
  env: Env,
  name: string,
  fallback: number,
  bounds: { min: number; max: number },
  unit: string,
): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const n = parseWholeNumber(raw);
  const accepted = `Use a whole number of ${unit} from ${bounds.min} to ${bounds.max}.`;
  if (n === undefined) fail(name, raw, 'not a whole number', accepted);
  if (n < bounds.min || n > bounds.max) fail(name, raw, 'out of range', accepted);
  return n;
}

export function httpsUrl(env: Env, name: string, fallback?: string, allowPath = false): string | undefined {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail(name, raw, 'not a URL', 'Use an https:// URL, e.g. https://kv-rotator.vault.azure.net.');
  }
  if (url.protocol !== 'https:')
    fail(name, raw, 'not https', 'Azure SDKs send tokens only over https: use an https:// URL.');
  if (url.search || url.hash) fail(name, raw, 'has a query or fragment', 'Use the bare https:// root URL.');
  if (!allowPath && url.pathname !== '/')
    fail(name, raw, 'has a path', 'Use the root URL only, e.g. https://host.');
  return `${url.origin}${allowPath ? url.pathname.replace(/\/+$/, '') : ''}`;
}

export function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const v = raw.toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  return fail(name, raw, 'not a boolean', 'Use true or false.');
}

/** A comma-separated setting as trimmed, non-empty items (unset → []). */
export function list(env: Env, name: string): string[] {
  return (read(env, name) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
