/**
 * The web test host: serves the built renderer on 127.0.0.1 only and speaks the contract over a WebSocket, for
 * tests and development. Never started by the packaged app. Every HTTP request and the WebSocket upgrade must
 * carry the random token as the first path segment (`/TOKEN/index.html`, `/TOKEN/ws`), so the page's relative
 * URLs carry it without cookies; the Host header must be ours (DNS rebinding) and the socket's Origin too.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { parseWireCall, type WireMessage } from '../../preload/contract.js';
import { contentSecurityPolicy } from '../app/security-policy.js';
import type { ApiDispatcher } from '../ipc/api-dispatcher.js';
import { acceptWebSocket } from './websocket.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
};

export interface WebHost {
  /** The page to open, token included. */
  url: string;
  token: string;
  close(): Promise<void>;
}

export async function startWebHost(options: { dispatcher: ApiDispatcher; rendererDir: string; port?: number }): Promise<WebHost> {
  const token = randomBytes(24).toString('base64url');
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const headers = {
    'Content-Security-Policy': contentSecurityPolicy(),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  };

  /** The path after the token, or undefined when the request is not ours. */
  function authorise(request: IncomingMessage): string | undefined {
    if (request.headers.host !== `127.0.0.1:${port}`) return undefined;
    const match = /^\/([^/?#]+)(\/[^?#]*)?/.exec(request.url ?? '');
    if (!match?.[1]) return undefined;
    const given = Buffer.from(match[1]);
    const expected = Buffer.from(token);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return match[2] ?? '/';
  }

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const path = authorise(request);
    if (path === undefined) return refuse(response, 403, 'Forbidden');
    if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(response, 405, 'Method not allowed');
    void serveFile(response, path === '/' ? '/index.html' : path, request.method === 'HEAD');
  });

  async function serveFile(response: ServerResponse, path: string, headOnly: boolean): Promise<void> {
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return refuse(response, 400, 'Bad request');
    }
    const file = normalize(join(options.rendererDir, decoded));
    if (!file.startsWith(options.rendererDir + sep)) return refuse(response, 404, 'Not found');
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return refuse(response, 404, 'Not found');
    }
    response.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
    response.end(headOnly ? undefined : body);
  }

  const upgraded = new Set<Duplex>(); // detached from the server: closed by hand
  server.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
    if (authorise(request) !== '/ws' || request.headers.origin !== origin) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    const connection = acceptWebSocket(request, socket);
    if (!connection) return;
    upgraded.add(socket);
    connection.onClose(() => upgraded.delete(socket));
    const send = (message: WireMessage): void => connection.send(JSON.stringify(message));
    const unsubscribe = options.dispatcher.subscribe((event, payload) => send({ kind: 'event', event, payload }));
    connection.onClose(unsubscribe);
    connection.onMessage((text) => {
      const call = parseWireCall(text);
      if (typeof call === 'string') return connection.close(1008); // not our protocol: hang up
      void options.dispatcher.call(call.method, call.args).then((result) => send({ kind: 'reply', id: call.id, result }));
    });
  });

  return {
    url: `${origin}/${token}/`,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        for (const socket of upgraded) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function refuse(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  response.end(`${text}\n`);
}
