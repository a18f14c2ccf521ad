/**
 * The smallest WebSocket (RFC 6455) the web test host needs: the server handshake, unfragmented text frames in
 * both directions, ping/pong and close. Anything else (binary, fragments, oversize or unmasked client frames)
 * closes the connection with the RFC's status code. Avoids a dependency for a test host.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_MESSAGE = 1024 * 1024;
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

export interface WebSocketConnection {
  send(text: string): void;
  close(code?: number): void;
  onMessage(listener: (text: string) => void): void;
  onClose(listener: () => void): void;
}

/** Completes the handshake on an upgraded socket, or answers 400 and returns undefined. */
export function acceptWebSocket(request: IncomingMessage, socket: Duplex): WebSocketConnection | undefined {
  const key = request.headers['sec-websocket-key'];
  const version = request.headers['sec-websocket-version'];
  if (typeof key !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(key) || version !== '13') {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    return undefined;
  }
  const accept = createHash('sha1').update(key + HANDSHAKE_GUID).digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  return new Connection(socket);
}

/** A server-to-client frame: FIN set, never masked. */
export function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const header =
    length < 126 ? Buffer.from([0x80 | opcode, length])
    : length < 0x10000 ? Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff])
    : Buffer.concat([Buffer.from([0x80 | opcode, 127]), bigEndian64(length)]);
  return Buffer.concat([header, payload]);
}

function bigEndian64(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(value));
  return bytes;
}

type Frame = { fin: boolean; opcode: number; payload: Buffer; size: number };

/** One client frame from the front of `data`, undefined while incomplete, or a close code when it is invalid. */
export function decodeFrame(data: Buffer): Frame | number | undefined {
  if (data.length < 2) return undefined;
  const first = data[0]!;
  const second = data[1]!;
  if ((second & 0x80) === 0) return 1002; // clients must mask
  if ((first & 0x70) !== 0) return 1002; // no extensions were negotiated
  let length = second & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (data.length < 4) return undefined;
    length = data.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (data.length < 10) return undefined;
    const long = data.readBigUInt64BE(2);
    if (long > BigInt(MAX_MESSAGE)) return 1009;
    length = Number(long);
    offset = 10;
  }
  if (length > MAX_MESSAGE) return 1009;
  if (data.length < offset + 4 + length) return undefined;
  const mask = data.subarray(offset, offset + 4);
  const payload = Buffer.from(data.subarray(offset + 4, offset + 4 + length));
  for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
  return { fin: (first & 0x80) !== 0, opcode: first & 0x0f, payload, size: offset + 4 + length };
}

class Connection implements WebSocketConnection {
  #buffer: Buffer = Buffer.alloc(0);
  #closed = false;
  readonly #messageListeners: ((text: string) => void)[] = [];
  readonly #closeListeners: (() => void)[] = [];

  constructor(private readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('close', () => this.#finish());
    socket.on('error', () => {
      socket.destroy();
      this.#finish();
    });
  }

  send(text: string): void {
    if (!this.#closed) this.socket.write(encodeFrame(OP_TEXT, Buffer.from(text, 'utf8')));
  }

  close(code = 1000): void {
    if (this.#closed) return;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.socket.end(encodeFrame(OP_CLOSE, payload)); // end, not destroy: the close frame must go out
    this.#finish();
  }

  onMessage(listener: (text: string) => void): void {
    this.#messageListeners.push(listener);
  }

  onClose(listener: () => void): void {
    this.#closeListeners.push(listener);
  }

  #receive(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (!this.#closed) {
      const frame = decodeFrame(this.#buffer);
      if (frame === undefined) return;
      if (typeof frame === 'number') return this.close(frame);
      this.#buffer = this.#buffer.subarray(frame.size);
      if (!frame.fin) return this.close(1003); // fragmented messages: never sent by our client
      if (frame.opcode === OP_TEXT) {
        let text: string;
        try {
          text = new TextDecoder('utf-8', { fatal: true }).decode(frame.payload);
        } catch {
          return this.close(1007);
        }
        for (const listener of this.#messageListeners) listener(text);
      } else if (frame.opcode === OP_PING) this.socket.write(encodeFrame(OP_PONG, frame.payload));
      else if (frame.opcode === OP_CLOSE) return this.close(1000);
      else if (frame.opcode !== OP_PONG) return this.close(1003);
    }
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of this.#closeListeners) listener();
  }
}
