// Bootstrap of the crash worker thread: TypeScript through tsx, then the worker itself.
import { register } from 'tsx/esm/api';

register();
await import('./crash-worker.ts');
