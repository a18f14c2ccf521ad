/**
 * The renderer's one way out: `window.bootkey` (the preload's contract) inside the desktop app, otherwise the web
 * test host's WebSocket at `./ws` beside this page (the URL carries the host's token). Nothing else in the
 * renderer talks to the outside.
 */
import {
  apiOver,
  type ApiResult,
  type BootkeyApi,
  type EventName,
  type MethodName,
  type WireCall,
  type WireMessage,
} from '../preload/contract.js';

declare global {
  interface Window {
    bootkey?: BootkeyApi;
  }
}

const lost: ApiResult<never> = {
  ok: false,
  error: { code: 'INTERNAL', message: 'The connection to the Bootkey test host was lost. Reload the page.' },
};

function webSocketApi(url: URL): BootkeyApi {
  const socket = new WebSocket(url);
  const opened = new Promise<boolean>((resolve) => {
    socket.addEventListener('open', () => resolve(true));
    socket.addEventListener('close', () => resolve(false));
  });
  const pending = new Map<number, (result: ApiResult<unknown>) => void>();
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>();
  let nextId = 1;

  socket.addEventListener('message', (event: MessageEvent<string>) => {
    const message = JSON.parse(event.data) as WireMessage;
    if (message.kind === 'reply') {
      pending.get(message.id)?.(message.result);
      pending.delete(message.id);
    } else {
      for (const listener of listeners.get(message.event) ?? []) listener(message.payload);
    }
  });
  socket.addEventListener('close', () => {
    for (const resolve of pending.values()) resolve(lost);
    pending.clear();
  });

  return apiOver({
    async call(method: MethodName, args: unknown[]) {
      if (!(await opened) || socket.readyState !== WebSocket.OPEN) return lost;
      const call: WireCall = { id: nextId++, method, args };
      return new Promise((resolve) => {
        pending.set(call.id, resolve);
        socket.send(JSON.stringify(call));
      });
    },
    subscribe(event, listener) {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set);
      set.add(listener);
      return () => set.delete(listener);
    },
  });
}

function webSocketUrl(): URL {
  const url = new URL('ws', window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = '';
  url.hash = '';
  return url;
}

export const api: BootkeyApi = window.bootkey ?? webSocketApi(webSocketUrl());

/**
 * Where picked or dropped files are on disk: the preload's webUtils in the desktop app; in the web test host the
 * host maps their names to files in the one folder it was started with (a page cannot know paths).
 */
export function filePaths(files: readonly File[]): Promise<ApiResult<string[]>> {
  const { pathForFile } = api;
  if (pathForFile) return Promise.resolve({ ok: true, value: files.map((file) => pathForFile(file)) });
  return api.droppedFilePaths(files.map((file) => file.name));
}

/** A fresh id that progress events of one job carry. */
export function newJobId(): string {
  return crypto.randomUUID();
}
