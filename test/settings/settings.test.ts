// Settings added in the second round (contract §8 and the tuning ones), and the layering rule for settings.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadSettings, SettingsError } from '../../src/settings.js';

const ok = { KEY_VAULT_URL: 'https://kv.vault.azure.net' };
const load = (env: Record<string, string>) => loadSettings({ ...ok, ...env }, { requireKeyVault: true });

function refusal(env: Record<string, string>): SettingsError {
  try {
    load(env);
  } catch (e) {
    if (e instanceof SettingsError) return e;
    throw e;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('second-round settings', () => {
  it('have their defaults', () => {
    expect(load({})).toMatchObject({
      inlineMax: 10,
      httpTimeBudgetSeconds: 200,
      notifyAllowedDomains: undefined,
      forceMinIntervalMinutes: 60,
      apiAudiences: [],
      allowCustomEndpoints: false,
    });
  });

  it('parse valid values', () => {
    expect(
      load({
        ROTATION_INLINE_MAX: '0',
        HTTP_TIME_BUDGET_SECONDS: '220',
        NOTIFY_ALLOWED_DOMAINS: 'Contoso.com, fabrikam.co.uk',
        FORCE_MIN_INTERVAL_MINUTES: '10080',
        API_AUDIENCE: 'api://11111111-1111-1111-1111-111111111111,11111111-1111-1111-1111-111111111111',
        ALLOW_CUSTOM_ENDPOINTS: 'true',
      }),
    ).toMatchObject({
      inlineMax: 0,
      httpTimeBudgetSeconds: 220,
      notifyAllowedDomains: ['contoso.com', 'fabrikam.co.uk'],
      forceMinIntervalMinutes: 10080,
      apiAudiences: ['api://11111111-1111-1111-1111-111111111111', '11111111-1111-1111-1111-111111111111'],
      allowCustomEndpoints: true,
    });
    expect(load({ NOTIFY_ALLOWED_DOMAINS: 'contoso.com,*' }).notifyAllowedDomains).toEqual(['*']);
  });

  it.each([
    ['ROTATION_INLINE_MAX', '10001', 'out of range'],
    ['ROTATION_INLINE_MAX', 'ten', 'not a whole number'],
    ['HTTP_TIME_BUDGET_SECONDS', '221', 'out of range'],
    ['HTTP_TIME_BUDGET_SECONDS', '-1', 'not a whole number'],
    ['FORCE_MIN_INTERVAL_MINUTES', '10081', 'out of range'],
    ['NOTIFY_ALLOWED_DOMAINS', 'contoso.com,@evil', 'not a domain name'],
    ['API_AUDIENCE', 'my api', 'not an application ID URI or client id'],
    ['ALLOW_CUSTOM_ENDPOINTS', 'sure', 'not a boolean'],
  ])(
    '%s=%j is refused in one line naming it, what was wrong and what is accepted',
    (name, value, problem) => {
      const err = refusal({ [name]: value });
      expect(err.setting).toBe(name);
      expect(err.message).toContain(name);
      expect(err.message).toContain(problem);
      expect(err.message).toMatch(/\. Use /);
      expect(err.message).not.toContain('\n');
    },
  );

  it('settings.ts imports nothing from notify, rotation or functions', () => {
    const source = readFileSync(new URL('../../src/settings.ts', import.meta.url), 'utf8');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    expect(imports.filter((p) => /notify|rotation|functions/.test(p!))).toEqual([]);
  });
});

describe('ROTATION_SCHEDULE (NCRONTAB, validated with cron-parser)', () => {
  it.each([
    '0 0 3 * * *',
    '0 */5 * * * *',
    '0 0 9 * * MON-FRI',
    '0 30 2 1,15 * *',
    '0 0 3 * JAN-MAR *',
    '01:00:00',
  ])('accepts %j', (schedule) => {
    expect(() => load({ ROTATION_SCHEDULE: schedule })).not.toThrow();
  });
  it.each([
    ['99 99 99 * * *', 'expected range 0-59'],
    ['0 0 25 * * *', 'expected range 0-23'],
    ['0 0 3 * *', '5 fields instead of six'],
    ['0 0 3 * * * *', '7 fields instead of six'],
    ['0 0 3 L * *', 'not an NCRONTAB expression'],
    ['0 0 3 ? * *', 'not an NCRONTAB expression'],
    ['every day', 'fields instead of six'],
    ['25:00:00', 'fields instead of six'],
  ])('refuses %j in one line naming ROTATION_SCHEDULE', (schedule, problem) => {
    const err = refusal({ ROTATION_SCHEDULE: schedule });
    expect(err.setting).toBe('ROTATION_SCHEDULE');
    expect(err.message).toContain(problem);
    expect(err.message).toContain('Use {second} {minute} {hour}');
    expect(err.message).not.toContain('\n');
  });
});
