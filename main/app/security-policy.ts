/**
 * The window's security decisions as pure functions, so they are unit-tested without Electron: the Content
 * Security Policy (also sent by the web test host), which navigations and new windows are refused, and which
 * external links may open in the user's browser.
 */

/**
 * The CSP for the renderer: only our own files, no inline or eval'd script. `connect-src 'self'` also admits the
 * web host's same-origin WebSocket. renderer/index.html carries the same policy in a meta tag (a file: page gets
 * no headers); a meta policy cannot hold `frame-ancestors`, which only the header adds.
 */
export function contentSecurityPolicy(where: 'header' | 'meta' = 'header'): string {
  const policy = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-src 'none'",
  ];
  return (where === 'header' ? [...policy, "frame-ancestors 'none'"] : policy).join('; ');
}

/** Links the UI may open in the user's browser (documentation, bug reports); nothing else leaves the app. */
export const EXTERNAL_ALLOWLIST: readonly string[] = ['https://github.com/bootkey/', 'https://www.gnu.org/licenses/'];

export function isAllowedExternal(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'https:' || parsed.username || parsed.password) return false;
  return EXTERNAL_ALLOWLIST.some((prefix) => parsed.href.startsWith(prefix));
}

/**
 * Whether `url` is the app's own page: the renderer's index.html under `rendererDir` (a file: URL ending in `/`).
 * IPC handlers check every sender frame with this; anything else (a navigated or injected frame) is refused.
 */
export function isAppUrl(url: string, rendererDir: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const page = new URL('index.html', rendererDir);
  return parsed.protocol === 'file:' && parsed.host === '' && parsed.pathname === page.pathname;
}

/** What to do with a navigation or window.open: the page never navigates; allowed links open outside. */
export function navigationDecision(url: string): 'deny' | 'open-external' {
  return isAllowedExternal(url) ? 'open-external' : 'deny';
}
