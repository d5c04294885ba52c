// `npm run sim -- --print-env` / `--shell`: everything the CLI needs to talk to this simulated cloud, as
// environment variables: the cloud's settings, the CA file the CLI must trust (NODE_EXTRA_CA_CERTS, made by
// scripts/with-sim-ca.mjs) and a PATH entry with an `entra-secret-rotator` command. Without the CA the CLI's first
// request fails with SELF_SIGNED_CERT_IN_CHAIN.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A shell word that stays one word and is never expanded: 'it'\''s'. */
export const shellQuote = (v: string): string => `'${v.replace(/'/g, `'\\''`)}'`;

/**
 * The variables a shell needs, or an error message when the sim was started without the CA wrapper. The
 * `entra-secret-rotator` command lives in the TLS folder, so it disappears with the simulated cloud.
 */
export function shellEnv(cloudEnv: Record<string, string>): Record<string, string> | string {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  const tlsDir = process.env.SIM_TLS_DIR;
  if (!ca || !tlsDir) return 'start it with `npm run sim -- --print-env` (the CA wrapper makes the CA file)';
  const bin = join(tlsDir, 'bin');
  mkdirSync(bin, { recursive: true });
  const cli = join(bin, 'entra-secret-rotator');
  // The built CLI when there is one (npm run build), else the sources through tsx: a fresh clone works too.
  writeFileSync(
    cli,
    [
      '#!/bin/sh',
      `root=${shellQuote(root)}`,
      'if [ -f "$root/dist/cli/cli.mjs" ]; then exec node "$root/dist/cli/cli.mjs" "$@"; fi',
      'exec "$root/node_modules/.bin/tsx" "$root/src/cli.ts" "$@"',
      '',
    ].join('\n'),
  );
  chmodSync(cli, 0o755);
  return {
    ...cloudEnv,
    NODE_EXTRA_CA_CERTS: ca,
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
  };
}

/** `export NAME='value'` lines, ready for `eval` or `source`. */
export function exportLines(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}=${shellQuote(v)}\n`)
    .join('');
}
