// A real browser for the tests that check what a person sees: Debian's chromium (apt-get install chromium), driven
// by playwright-core; no browser download. Screenshots go to test-artifacts/ (gitignored; CI keeps it).
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A page showing `html` at `width` CSS pixels; requests to anything but the document itself are refused. */
export async function openHtml(browser: Browser, html: string, width = 1280): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const external: string[] = [];
  await page.route('**/*', (route) => {
    external.push(route.request().url());
    return route.abort();
  });
  await page.setContent(html, { waitUntil: 'load' });
  (page as Page & { externalRequests?: string[] }).externalRequests = external;
  return page;
}

export function externalRequests(page: Page): string[] {
  return (page as Page & { externalRequests?: string[] }).externalRequests ?? [];
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

type StyleWindow = { getComputedStyle(e: unknown): Record<string, string> };
/** A computed CSS property of the first element `locator` matches (the tests compile without the DOM types). */
export function cssOf(locator: Locator, property: string): Promise<string> {
  return locator.evaluate((e, p) => (globalThis as unknown as StyleWindow).getComputedStyle(e)[p]!, property);
}
