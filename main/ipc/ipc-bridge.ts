/**
 * Binds every contract method to its Electron IPC channel. Each call is accepted only from the app's own page
 * (the main frame, at the renderer's index.html); arguments are validated by the dispatcher. Events go to the
 * window's page only.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import { eventChannel, METHOD_NAMES, methodChannel, type ApiResult } from '../../preload/contract.js';
import { isAppUrl } from '../app/security-policy.js';
import type { ApiDispatcher } from './api-dispatcher.js';

/** True when the call comes from our page's top frame, not from a navigated, injected or child frame. */
export function isTrustedSender(event: IpcMainInvokeEvent, rendererDir: string): boolean {
  const frame = event.senderFrame;
  return frame !== null && frame.parent === null && isAppUrl(frame.url, rendererDir);
}

/**
 * Registers the handlers on `ipcMain` (Electron's; passed in so that the checks run in unit tests without
 * Electron) and the event forwarding; returns the function that removes them.
 */
export function bindIpc(ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>, dispatcher: ApiDispatcher, contents: WebContents,
  rendererDir: string): () => void {
  for (const method of METHOD_NAMES) {
    ipcMain.handle(methodChannel(method), (event, ...args: unknown[]): Promise<ApiResult<unknown>> | ApiResult<never> => {
      if (event.sender !== contents || !isTrustedSender(event, rendererDir)) {
        return { ok: false, error: { code: 'AUTH_DENIED', message: 'This page may not call Bootkey.' } };
      }
      return dispatcher.call(method, args);
    });
  }
  const unsubscribe = dispatcher.subscribe((event, payload) => {
    if (!contents.isDestroyed() && isAppUrl(contents.getURL(), rendererDir)) contents.send(eventChannel(event), payload);
  });
  return () => {
    unsubscribe();
    for (const method of METHOD_NAMES) ipcMain.removeHandler(methodChannel(method));
  };
}
