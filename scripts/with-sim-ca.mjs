#!/usr/bin/env node
// Runs a command with a throwaway TLS CA for the simulated cloud.
// Node reads NODE_EXTRA_CA_CERTS only when a process starts, so the CA must exist before the
// command (vitest, the demo, the bench) starts; this wrapper makes it, runs the command with
// NODE_EXTRA_CA_CERTS and SIM_TLS_DIR set, and deletes the keys afterwards.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node scripts/with-sim-ca.mjs <command> [args...]');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'entra-sim-tls-'));
const openssl = (...a) => execFileSync('openssl', a, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
try {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=entra-secret-rotator simulated cloud CA (throwaway)',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
      'keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  rmSync(join(dir, 'ca.key')); // nobody may sign anything else with it
} catch (err) {
  console.error(`could not create the simulated cloud's TLS certificates with openssl: ${err.message}`);
  console.error('install openssl (Debian: apt-get install openssl) and try again');
  rmSync(dir, { recursive: true, force: true });
  process.exit(2);
}

const child = spawn(command, args, {
  stdio: 'inherit',
  shell: process.platform === 'win32',
  env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'), SIM_TLS_DIR: dir },
});
const forward = (signal) => child.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
child.on('exit', (code, signal) => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
