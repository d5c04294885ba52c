// Starts Azurite once for the whole test run and hands its connection string to every test file.
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startAzurite, type AzuriteHandle } from '../sim/azurite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    azuriteConnectionString: string;
  }
}

let azurite: AzuriteHandle | undefined;

export async function setup(project: TestProject): Promise<void> {
  if (!process.env.SIM_TLS_DIR || !process.env.NODE_EXTRA_CA_CERTS) {
    throw new Error(
      'The simulated cloud needs its throwaway TLS CA: run the tests with `npm test` ' +
        '(or `node scripts/with-sim-ca.mjs vitest ...`), not with a bare `vitest`.',
    );
  }
  azurite = await startAzurite();
  project.provide('azuriteConnectionString', azurite.connectionString);
}

export async function teardown(): Promise<void> {
  await azurite?.stop();
}
