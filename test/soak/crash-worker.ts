// A run of the product in a worker thread, so that the soak can kill it for real (worker.terminate()) right after a
// step commits, the way a host recycling or a crash would. It runs the same timer run as the main thread, with a
// clock that reads the cloud's time (its offset from real time): its waits, and the SDKs' retry waits, move that
// offset and, through a message, the cloud's clock in the main thread (which only waits on this run meanwhile).
import { parentPort, workerData } from 'node:worker_threads';
import { timerRun } from './product.js';
import { collapseSdkWaits } from './sdk-waits.js';

interface Go {
  env: Record<string, string>;
  skewMs: number;
  label: string;
}

const port = parentPort!;
void workerData;
port.once('message', (go: Go) => {
  Object.assign(process.env, go.env);
  let skewMs = go.skewMs;
  const advance = (ms: number) => {
    skewMs += Math.max(0, ms);
    port.postMessage({ type: 'advance', ms });
  };
  // A couple of real milliseconds per wait: the main thread has moved the cloud's clock before the next request.
  collapseSdkWaits(advance, 2);
  const clock = {
    now: () => new Date(Date.now() + skewMs),
    sleep: (ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason as Error);
        advance(ms);
        setTimeout(resolve, 2);
      }),
  };
  void timerRun({
    env: go.env,
    clock,
    label: go.label,
    emit: (where, text) => port.postMessage({ type: 'emit', where, text }),
  }).then((outcome) => port.postMessage({ type: 'done', outcome }));
});
port.postMessage({ type: 'ready' });
