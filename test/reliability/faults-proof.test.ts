// Fault matrix (see fault-suite.ts): the proof that a new secret works (a token request to Entra).
import { faultMatrix } from './fault-suite.js';

faultMatrix(['entra.token']);
