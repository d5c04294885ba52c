// Azurite (the real storage emulator, from npm) for queues, blobs and tables: storage is never simulated.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { freePort } from './http.js';

export interface AzuriteHandle {
  connectionString: string;
  /** The Azurite process (its CPU time is read from /proc by the bench). */
  pid: number | undefined;
  stop(): Promise<void>;
}

const ACCOUNT = 'devstoreaccount1';
// The well-known, public development key of Azurite (not a secret).
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Azurite did not come up; its process (`pid`) was killed, so a retry does not leave it running beside the next. */
export class AzuriteStartError extends Error {
  constructor(
    message: string,
    readonly pid: number | undefined,
  ) {
    super(message);
    this.name = 'AzuriteStartError';
  }
}

export async function startAzurite(opts: { timeoutMs?: number } = {}): Promise<AzuriteHandle> {
  // Azurite starts in 2-3 s on an idle machine, and took over 20 s at load 25 on 2 cores.
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const require = createRequire(import.meta.url);
  const entry = require.resolve('azurite/dist/src/azurite.js');
  const [blob, queue, table] = [await freePort(), await freePort(), await freePort()];
  // Spawn node directly (not npx) so that killing this PID stops Azurite itself.
  const child: ChildProcess = spawn(
    process.execPath,
    [
      entry,
      '--silent',
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--loose',
      '--blobHost',
      '127.0.0.1',
      '--queueHost',
      '127.0.0.1',
      '--tableHost',
      '127.0.0.1',
      '--blobPort',
      String(blob),
      '--queuePort',
      String(queue),
      '--tablePort',
      String(table),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      clearInterval(check);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    // A start that takes too long is given up, and its process with it.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(
        new AzuriteStartError(
          `Azurite did not start within ${timeoutMs / 1000} s (its process was killed):\n${output}`,
          child.pid,
        ),
      );
    }, timeoutMs);
    const check = setInterval(() => {
      if ((output.match(/successfully listening/g) ?? []).length >= 3) done();
    }, 50);
    const onExit = (code: number | null) =>
      done(new AzuriteStartError(`Azurite exited with code ${code}:\n${output}`, child.pid));
    child.once('exit', onExit);
  });
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};` +
    `BlobEndpoint=http://127.0.0.1:${blob}/${ACCOUNT};QueueEndpoint=http://127.0.0.1:${queue}/${ACCOUNT};` +
    `TableEndpoint=http://127.0.0.1:${table}/${ACCOUNT};`;
  return {
    connectionString,
    pid: child.pid,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
