// The seeds' service-principal options: which apps the tenant holds no service principal for.
import { afterAll, describe, expect, it } from 'vitest';
import { startSimCloud } from './cloud.js';
import { seedDemoTenant, seedLargeTenant } from './seed.js';

const cloud = await startSimCloud({ graphThrottling: false });
afterAll(() => cloud.stop());

describe('seeds: apps without a service principal', () => {
  it('the demo tenant adds one only when asked; every other app has one', () => {
    const demo = seedDemoTenant(cloud, new Date(), { withoutServicePrincipal: true });
    const bare = demo.apps.noServicePrincipal!;
    expect(cloud.tenant.servicePrincipalByAppId(bare.appId)).toBeUndefined();
    for (const [name, app] of Object.entries(demo.apps)) {
      if (name !== 'noServicePrincipal')
        expect(cloud.tenant.servicePrincipalByAppId(app.appId)).toBeDefined();
    }
  });

  it('the large tenant leaves out about noServicePrincipalPercent of them, and none by default', () => {
    const large = seedLargeTenant(cloud, { apps: 400, noServicePrincipalPercent: 25, seed: 7 });
    expect(large.noServicePrincipalAppIds.length).toBeGreaterThan(60);
    expect(large.noServicePrincipalAppIds.length).toBeLessThan(140);
    for (const app of large.apps) {
      const missing = large.noServicePrincipalAppIds.includes(app.appId);
      expect(cloud.tenant.servicePrincipalByAppId(app.appId) === undefined).toBe(missing);
    }
    expect(seedLargeTenant(cloud, { apps: 50 }).noServicePrincipalAppIds).toEqual([]);
  });
});
