// A run of the product in a worker thread, so that the soak can kill it for real (worker.terminate()) right after a
// step commits, the way a host recycling or a crash would. It runs the same runProduct as the main thread, with a
// clock that reads the cloud's time (its offset from real time, fixed while the main thread waits on this run).
import { parentPort, workerData } from 'node:worker_threads';
import { timerRun } from './product.js';

interface Go {
  env: Record<string, string>;
  skewMs: number;
  label: string;
}

const port = parentPort!;
void workerData;
port.once('message', (go: Go) => {
  Object.assign(process.env, go.env);
  const clock = {
    now: () => new Date(Date.now() + go.skewMs),
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 2_000))),
  };
  void timerRun({
    env: go.env,
    clock,
    label: go.label,
    emit: (where, text) => port.postMessage({ type: 'emit', where, text }),
  }).then((outcome) => port.postMessage({ type: 'done', outcome }));
});
port.postMessage({ type: 'ready' });
