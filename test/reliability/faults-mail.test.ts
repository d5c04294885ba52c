// Fault matrix (see fault-suite.ts): sending the owners' emails through ACS.
import { faultMatrix } from './fault-suite.js';

faultMatrix(['acs.send']);
