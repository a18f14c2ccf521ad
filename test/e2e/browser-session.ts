/**
 * What the browser tests share: the app built and served by the web host over a dispatcher, Debian's Chromium on
 * its page, screenshots in light and dark, the axe-core check, and the whole visible state of a folder key (to
 * prove an action wrote nothing, or exactly what).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ApiDispatcher, type ApiServices } from '../../main/ipc/api-dispatcher.js';
import { hostKeyServices } from '../../main/ipc/host-services.js';
import type { DiskProvider } from '../../main/ports/disk-provider.js';
import type { PrivilegedRunner } from '../../main/ports/privileged-runner.js';
import { DriveService } from '../../main/services/drives.js';
import { startWebHost, type WebHost } from '../../main/web/web-host.js';

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

/**
 * Folder keys as users have them: `work`/name for each name, made and filled by `fill`, whose `bytes(n)` gives
 * pseudo-random bytes seeded by the key's place in `names` (1, 2, …), so each key's files differ from the others'.
 */
export function userKeys<const Names extends readonly string[]>(
  work: string,
  names: Names,
  fill: (dir: string, bytes: (n: number) => Uint8Array) => void,
): { [K in keyof Names]: string } {
  return names.map((name, i) => {
    const dir = join(work, name);
    mkdirSync(dir);
    let x = i + 1;
    fill(dir, (n) => Uint8Array.from({ length: n }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 24)));
    return dir;
  }) as { [K in keyof Names]: string };
}

/** The web host's dispatcher over these disks with every key service on the host's files; `runner` stands in for the privileged helper. */
export function keyDispatcher(disks: DiskProvider, runner: PrivilegedRunner, options: Pick<ApiServices, 'dropFolder' | 'mergeWorkDir'>): ApiDispatcher {
  const drives = new DriveService(disks);
  return new ApiDispatcher({ version: 'test', host: 'web', disks, drives, ...hostKeyServices(disks, drives, runner), ...options });
}

export interface BrowserSession {
  host: WebHost;
  context: BrowserContext;
  page: Page;
}

/**
 * Builds the app into `work`/dist (every run: the page must be today's code; a folder of its own, because another
 * test file may be building at the same time), serves it over the dispatcher and opens Chromium on its page,
 * with the browser's profile in `work`/profile.
 */
export async function openSession({ dispatcher, work, viewport = { width: 1100, height: 800 } }: {
  dispatcher: ApiDispatcher;
  work: string;
  viewport?: { width: number; height: number };
}): Promise<BrowserSession> {
  execFileSync(process.execPath, [join(ROOT, 'resources/build/build.mjs'), '--out', join(work, 'dist')], { cwd: ROOT, stdio: 'inherit' });
  mkdirSync(SCREENS, { recursive: true });
  const host = await startWebHost({ dispatcher, rendererDir: join(work, 'dist/renderer') });
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(join(work, 'profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
      viewport,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(host.url);
    return { host, context, page };
  } catch (error) {
    await context?.close(); // an open browser or server would keep the test process alive
    await host.close();
    throw error;
  }
}

/** For `after`: closes the browser and the host if `before` got that far, and removes the work folder it made. */
export async function closeSession(session: BrowserSession | undefined, work: string | undefined): Promise<void> {
  await session?.context.close();
  await session?.host.close();
  if (work) rmSync(work, { recursive: true, force: true });
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
