// The queue names alone, without the Storage SDK: the trigger registrations need them at import, which is every
// cold start (src/functions/*.ts), while the SDK is loaded only when a handler first runs.
export const WORK_QUEUE = 'rotation-work';
/** Where the host moves a message after maxDequeueCount failed attempts (`<queue>-poison`). */
export const POISON_QUEUE = `${WORK_QUEUE}-poison`;
