/**
 * The one window and the rules every web contents obeys: sandboxed renderer without Node, no webviews, no
 * navigation, no new windows (allowlisted links open in the user's browser), every permission request denied.
 */
import { app, BrowserWindow, session, shell, type WebContents } from 'electron';
import { join } from 'node:path';
import { navigationDecision } from './security-policy.js';

function refuseNavigation(url: string): void {
  if (navigationDecision(url) === 'open-external') void shell.openExternal(url);
}

/** Applied to every web contents the app ever creates, before it loads anything. */
export function lockDownWebContents(): void {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  app.on('web-contents-created', (_event, contents: WebContents) => {
    contents.on('will-navigate', (event, url) => {
      event.preventDefault();
      refuseNavigation(url);
    });
    contents.on('will-redirect', (event) => event.preventDefault());
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      refuseNavigation(url);
      return { action: 'deny' };
    });
  });
}

export function createMainWindow(distDir: string): BrowserWindow {
  const window = new BrowserWindow({
    width: 1100,
    height: 760,
    minWidth: 480,
    minHeight: 400,
    show: false,
    title: 'Bootkey',
    webPreferences: {
      preload: join(distDir, 'preload', 'index.cjs'),
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  });
  window.once('ready-to-show', () => window.show());
  void window.loadFile(join(distDir, 'renderer', 'index.html'));
  return window;
}
