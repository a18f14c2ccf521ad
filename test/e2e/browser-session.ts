/**
 * What the browser tests share: Debian's Chromium on the web host's page, screenshots in light and dark, the
 * axe-core check, and the whole visible state of a folder key (to prove an action wrote nothing, or exactly what).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const ROOT = join(import.meta.dirname, '..', '..');
export const SCREENS = join(ROOT, 'test-artifacts', 'screens');

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** path → SHA-256 of every file, and every directory as path → 'dir': the whole visible state of a folder. */
export function treeState(dir: string): Map<string, string> {
  const state = new Map<string, string>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        state.set(relative(dir, path), 'dir');
        walk(path);
      } else state.set(relative(dir, path), sha256(readFileSync(path)));
    }
  };
  walk(dir);
  return state;
}

export async function openBrowser(profile: string, url: string, viewport = { width: 1100, height: 800 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(url);
  return { context, page };
}

/** Light and dark screenshots; a modal dialog is shot as the viewport shows it (`fullPage` false). */
export async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    await page.screenshot({ path: join(SCREENS, `${name}-${colorScheme}.png`), fullPage });
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/** axe-core in the page, light and dark; fails on serious or critical violations. */
export async function axe(page: Page, screen: string): Promise<void> {
  const source = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const violations = await page.evaluate(async (code) => {
      (0, eval)(code); // through DevTools: the page's CSP refuses injected <script> tags
      const axe = (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
      return (await axe.run()).violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    }, source);
    assert.deepEqual(violations, [], `axe on ${screen} (${colorScheme})`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}
