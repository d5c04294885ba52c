// Fault matrix (see fault-suite.ts): Graph's reads of the listing pass, the owned apps and their owners ($batch).
import { faultMatrix } from './fault-suite.js';

faultMatrix(['graph.listOwnedObjects', 'graph.batch']);
