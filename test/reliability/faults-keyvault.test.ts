// Fault matrix (see fault-suite.ts): Key Vault, storing the new secret and reading the secret's versions.
import { faultMatrix } from './fault-suite.js';

faultMatrix(['keyvault.setSecret', 'keyvault.listVersions']);
