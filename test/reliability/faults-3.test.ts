// Part 3 of the fault suite (see fault-suite.ts): a file of its own, so vitest's workers run the parts side by side.
import { defineFaultSuite } from './fault-suite.js';

defineFaultSuite('scenarios');
