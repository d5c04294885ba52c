// The Graph simulator's entry point; the simulator itself is test/sim/graph/ (one file per resource).
export { createGraph, graphControl, REMOVE_UNKNOWN_KEY_DEFAULT } from './graph/index.js';
export type { GraphControl, GraphService } from './graph/index.js';
