/**
 * The sandboxed preload: exposes the contract as `window.bootkey` and nothing more. Each method forwards to its
 * fixed channel; `on` subscribes to a named event only; `pathForFile` turns a dropped File into its path.
 * No ipcRenderer, no Node, no event objects reach the page.
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import { apiOver, eventChannel, methodChannel, type ApiResult } from './contract.js';

const api = apiOver({
  call: (method, args) => ipcRenderer.invoke(methodChannel(method), ...args) as Promise<ApiResult<unknown>>,
  subscribe(event, listener) {
    const forward = (_event: IpcRendererEvent, payload: unknown): void => listener(payload);
    ipcRenderer.on(eventChannel(event), forward);
    return () => {
      ipcRenderer.removeListener(eventChannel(event), forward);
    };
  },
});

// A dropped or picked File's path on disk: the page never sees paths otherwise (Electron removed File.path).
contextBridge.exposeInMainWorld('bootkey', { ...api, pathForFile: (file: File): string => webUtils.getPathForFile(file) });
