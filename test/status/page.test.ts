// The status page (issue 16 §6) as an operator sees it: a real scan of the demo tenant after a real rotation, the
// run table in Azurite with a run that failed, rendered in a real browser (Debian's chromium). Asserts what a
// person sees: a timeline per app, the failed run highlighted, the hostile app name shown as text; saves a screenshot.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RunTable } from '../../src/azure/runs.js';
import { inline } from '../../src/handoff.js';
import { connect, createServices, runOnce } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import { gatherStatus } from '../../src/status/gather.js';
import { renderStatusHtml } from '../../src/status/html.js';
import type { StatusPage } from '../../src/status/model.js';
import { statusResponse } from '../../src/status/respond.js';
import { startSimCloud } from '../sim/cloud.js';
import { seedDemoTenant } from '../sim/seed.js';
import { ARTIFACTS, cssOf, externalRequests, launchBrowser, openHtml, screenshot } from './browser.js';

const DAY = 86_400_000;
const cloud = await startSimCloud({ graphThrottling: false, replicationDelayMs: 0 });
const demo = seedDemoTenant(cloud);
Object.assign(process.env, cloud.env); // DefaultAzureCredential reads the managed identity endpoint from here
const settings = loadSettings(
  { ...cloud.env, AzureWebJobsStorage: inject('azuriteConnectionString'), VERIFY_TIMEOUT_SECONDS: '5' },
  { requireKeyVault: true },
);
const services = createServices(settings);
const table = new RunTable(settings.storage!, services.credential, `status${randomUUID().slice(0, 8)}`);
let page: StatusPage;
let browser: Browser;

beforeAll(async () => {
  // Yesterday's scheduled run went well; today's HTTP run rotated the due apps and failed one.
  const yesterday = new Date(Date.now() - DAY).toISOString();
  await table.createRun({
    runId: 'run-yesterday',
    trigger: 'timer',
    wholeScope: true,
    startedAt: yesterday,
    scanned: 11,
    queued: 0,
    rotatedInline: 0,
    failedInline: 0,
  });
  const deps = await connect(settings, () => undefined, services);
  const { result } = await runOnce(deps, 'cli', inline, { mode: 'rotate' });
  if (!result) throw new Error('the rotation returned no result');
  const s = result.report.summary;
  await table.createRun({
    runId: result.report.runId,
    trigger: 'http',
    wholeScope: true,
    startedAt: result.report.startedAt,
    scanned: s.scanned,
    queued: 0,
    rotatedInline: s.rotated,
    failedInline: s.failed,
  });
  for (const c of result.changed) await table.recordApp(result.report.runId, 'inline', c.report, c);
  page = await gatherStatus(deps, table);
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await cloud.stop();
});

const app = (appId: string) => page.apps.find((a) => a.appId === appId)!;

describe('the data', () => {
  it('lists every app in scope and no other', () => {
    const ids = page.apps.map((a) => a.appId);
    expect(ids).toContain(demo.apps.upToDate.appId);
    expect(ids).toContain(demo.apps.hostile.appId);
    expect(ids).not.toContain(demo.apps.notOwned.appId);
    expect(ids).toHaveLength(11);
  });

  it('gives each app its current expiry, last rotation and next due date', () => {
    const hr = app(demo.apps.upToDate.appId);
    expect(hr.action).toBe('up-to-date');
    expect(hr.lastRotatedAt).toBeUndefined(); // never rotated: its only secret was made in the portal
    expect(Date.parse(hr.expiresOn!) - Date.now()).toBeGreaterThan(199 * DAY);
    // due 30 days (RENEW_BEFORE_DAYS) before the expiry
    expect(Date.parse(hr.expiresOn!) - Date.parse(hr.nextDueOn!)).toBe(30 * DAY);
    const intranet = app(demo.apps.due.appId); // rotated just now
    expect(intranet.action).toBe('up-to-date');
    expect(Date.now() - Date.parse(intranet.lastRotatedAt!)).toBeLessThan(DAY);
    expect(intranet.secrets.filter((s) => s.current)).toMatchObject([{ madeBy: 'rotator' }]);
    expect(intranet.secrets).toHaveLength(2); // the portal secret stays until it expires
    expect(app(demo.apps.disabled.appId)).toMatchObject({ action: 'skipped', reason: expect.any(String) });
    expect(app(demo.apps.disabled.appId).nextDueOn).toBeUndefined();
  });

  it('shows the last runs, newest first, with their outcomes and failures', () => {
    expect(page.runs.map((r) => r.outcome)).toEqual(['failed', 'succeeded']);
    expect(page.runs[0]!.failures).toEqual([
      expect.objectContaining({ appId: demo.apps.personal.appId, displayName: 'Contoso Rewards App' }),
    ]);
    expect(page.runs[0]!.rotated).toBeGreaterThan(3);
  });

  it('answers JSON with Accept: application/json, HTML to a browser', () => {
    const asJson = statusResponse(page, 'application/json');
    expect(asJson.headers['content-type']).toMatch(/^application\/json/);
    expect(asJson.jsonBody).toEqual(page);
    const html = statusResponse(page, 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8');
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.headers['content-security-policy']).toContain("default-src 'none'");
  });

  it("lists the scope from Graph once: the scan's own listing gives each app's credentials too", async () => {
    const deps = await connect(settings, () => undefined, services);
    cloud.log.clear();
    const again = await gatherStatus(deps, []);
    const facts = (p: StatusPage) =>
      p.apps.map((a) => [a.appId, a.secrets, a.renewBeforeDays, a.expiresOn]).sort();
    expect(facts(again)).toEqual(facts(page));
    expect(again.apps.flatMap((a) => a.secrets).length).toBeGreaterThan(10);
    expect(cloud.log.count('graph.listOwnedObjects')).toBe(1); // one page of 11 apps
  });

  it('carries no secret value', () => {
    const text = JSON.stringify(page) + renderStatusHtml(page);
    for (const s of cloud.issuedSecrets()) expect(text).not.toContain(s);
  });
});

describe('in a browser', () => {
  it('shows a timeline per app, the failed run highlighted, hostile names as text, nothing fetched', async () => {
    const html = renderStatusHtml(page);
    writeFileSync(join(ARTIFACTS, 'status.html'), html);
    const tab = await openHtml(browser, html, 1280);
    // The timeline: one drawing per app, labelled with the current secret's expiry, with a visible bar.
    const hr = tab.locator('tr.app', { hasText: 'HR Portal' });
    const drawing = hr.getByRole('img', { name: /current secret expires \d{4}-\d\d-\d\d \(in 2\d\d days\)/ });
    await expect.poll(() => drawing.isVisible()).toBe(true);
    const bar = await hr.locator('rect.bar.current').boundingBox();
    expect(bar!.width).toBeGreaterThan(100);
    expect(await tab.getByRole('img', { name: /current secret expires/ }).count()).toBeGreaterThanOrEqual(8);
    expect(await tab.locator('.axis .tick.now').textContent()).toBe('today');
    // The failed run stands out: red background, "failed", and the app that failed with its reason.
    const failed = tab.locator('tr.run.failed');
    expect(await failed.count()).toBe(1);
    const cell = failed.locator('td').first();
    expect(await cssOf(cell, 'backgroundColor')).toBe('rgb(253, 231, 233)');
    expect(await failed.locator('.outcome').textContent()).toBe('failed');
    expect(await failed.textContent()).toContain('Contoso Rewards App');
    const ok = tab.locator('tr.run.succeeded td').first();
    expect(await cssOf(ok, 'backgroundColor')).not.toBe('rgb(253, 231, 233)');
    // The app called `<img src=x onerror=…>` is a name on the page, not an image.
    await expect
      .poll(() => tab.getByText('<img src=x onerror=alert(1)> Legacy "CRM" & Co').isVisible())
      .toBe(true);
    expect(await tab.locator('img').count()).toBe(0);
    expect(externalRequests(tab)).toEqual([]);
    await screenshot(tab, 'status.png');
    await tab.close();
  });
});
