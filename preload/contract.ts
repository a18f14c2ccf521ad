/**
 * THE API between the UI and everything else: the `BootkeyApi` methods, their channel names, the events, plain
 * structured-cloneable DTOs (no classes, no Buffers, sizes as numbers of bytes) and a runtime validator for every
 * argument. main/ipc, main/web, preload and the renderer all import this file; it imports nothing but the error
 * code list, so the renderer never reaches main/ through it.
 */
import { ERROR_CODES, type ErrorCode } from './error-codes.js';

export { ERROR_CODES, type ErrorCode };

// ---------------------------------------------------------------------------------------------------- results

export type DetailValue = string | number | boolean | null;

/** An expected failure, already in words for a person; the UI adds what to do next from its code table. */
export interface ApiError {
  code: ErrorCode;
  message: string;
  details?: Record<string, DetailValue>;
}

export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ApiError };

// ---------------------------------------------------------------------------------------------------- DTOs

export interface PartitionDto {
  /** 1-based partition number as the kernel counts it. */
  number: number;
  /** Byte offset from the start of the drive. */
  offset: number;
  size: number;
  /** Filesystem type as blkid names it (`vfat`, `ext4`, `iso9660` …), or null when none was recognised. */
  fsType: string | null;
  label: string | null;
  /** Bytes in use, when the filesystem is mounted and could be measured; null when unknown. */
  used: number | null;
  mountPoint: string | null;
}

export interface DriveDto {
  /** Stable for as long as the drive stays plugged in (the udisks object path). */
  id: string;
  kind: 'disk' | 'loop';
  /** Whole-disk device node, `/dev/sdb`. */
  device: string;
  /** Linux dev_t of the whole disk: part of the identity a destructive action confirms. */
  deviceNumber: number;
  vendor: string;
  model: string;
  serial: string;
  size: number;
  /** `usb`, `sdio` …, or '' when unknown. */
  connection: string;
  partitionTable: 'mbr' | 'gpt' | 'none';
  partitions: PartitionDto[];
  /** False when Bootkey will not write to it; `refusals` then says why, in words (from the drive policy). */
  eligible: boolean;
  refusals: string[];
  warnings: string[];
}

/** What the user saw and confirmed in the destructive dialog; re-checked right before the first write. */
export interface ConfirmedDrive {
  device: string;
  serial: string;
  size: number;
  deviceNumber: number;
}

export interface EraseRequest {
  driveId: string;
  confirmed: ConfirmedDrive;
  /** FAT label for the new partition: up to 11 characters A–Z, 0–9, space, `_` and `-`. */
  label: string;
}

/** The actions of the app; each is available only when its service is part of this build. */
export const FEATURE_IDS = ['copyEfi', 'multiIso', 'persistence'] as const;
export type FeatureId = (typeof FEATURE_IDS)[number];

export interface AppInfoDto {
  version: string;
  /** Which front end serves the UI: the desktop window, or the loopback test host. */
  host: 'electron' | 'web';
  features: Record<FeatureId, boolean>;
}

// ---------------------------------------------------------------------------------------------------- the API

/** Events pushed to the UI, with their payloads. */
export interface BootkeyEvents {
  /** The whole drive list, each time a drive appears, disappears or changes. */
  drivesChanged: DriveDto[];
}
export type EventName = keyof BootkeyEvents;
export const EVENT_NAMES = ['drivesChanged'] as const satisfies readonly EventName[];

export interface BootkeyApi {
  getAppInfo(): Promise<ApiResult<AppInfoDto>>;
  listDrives(): Promise<ApiResult<DriveDto[]>>;
  /** One drive by id; DEVICE_GONE when it was unplugged. */
  getDrive(id: string): Promise<ApiResult<DriveDto>>;
  /**
   * DESTRUCTIVE: replaces the drive's partitions with one FAT32 partition (MBR). Only after the user confirmed
   * the dialog naming the drive; TARGET_CHANGED when the drive behind `confirmed.device` is not that drive.
   */
  eraseDrive(request: EraseRequest): Promise<ApiResult<DriveDto>>;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: BootkeyEvents[E]) => void): () => void;
}

export type MethodName = Exclude<keyof BootkeyApi, 'on'>;
export type MethodArgs<M extends MethodName> = Parameters<BootkeyApi[M]>;
export type MethodValue<M extends MethodName> =
  Awaited<ReturnType<BootkeyApi[M]>> extends ApiResult<infer V> ? V : never;

/** Argument validators: each returns what is wrong with `args` in words, or undefined when they are valid. */
type Validators = { [M in MethodName]: (args: unknown[]) => string | undefined };

const noArguments = (args: unknown[]): string | undefined =>
  args.length === 0 ? undefined : `expected no arguments, got ${args.length}`;

function exactly(args: unknown[], count: number): string | undefined {
  return args.length === count ? undefined : `expected ${count} argument(s), got ${args.length}`;
}

function driveId(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 512) return 'a drive id must be a non-empty string';
  return undefined;
}

const isByteCount = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 0;

/** The FAT label rule, shared with the UI's form so both say the same thing. */
export const FAT_LABEL_PATTERN = /^[A-Z0-9_ -]{1,11}$/;

function eraseRequest(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'the request must be an object';
  const { driveId: id, confirmed, label } = value as Record<string, unknown>;
  const problem = driveId(id);
  if (problem) return problem;
  if (typeof label !== 'string' || !FAT_LABEL_PATTERN.test(label)) {
    return 'the label must be 1 to 11 characters: capital letters, digits, space, _ or -';
  }
  if (typeof confirmed !== 'object' || confirmed === null) return 'confirmed must name the drive';
  const c = confirmed as Record<string, unknown>;
  if (typeof c.device !== 'string' || !c.device.startsWith('/dev/')) return 'confirmed.device must be a /dev path';
  if (typeof c.serial !== 'string') return 'confirmed.serial must be a string';
  if (!isByteCount(c.size) || !isByteCount(c.deviceNumber)) return 'confirmed.size and deviceNumber must be integers';
  return undefined;
}

export const VALIDATE_ARGS: Validators = {
  getAppInfo: noArguments,
  listDrives: noArguments,
  getDrive: (args) => exactly(args, 1) ?? driveId(args[0]),
  eraseDrive: (args) => exactly(args, 1) ?? eraseRequest(args[0]),
};

export const METHOD_NAMES = Object.keys(VALIDATE_ARGS) as MethodName[];

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.hasOwn(VALIDATE_ARGS, name);
}

export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && (EVENT_NAMES as readonly string[]).includes(name);
}

/** How a front end carries calls and events: Electron IPC in the preload, a WebSocket for the web host. */
export interface ApiTransport {
  call(method: MethodName, args: unknown[]): Promise<ApiResult<unknown>>;
  subscribe(event: EventName, listener: (payload: unknown) => void): () => void;
}

/** The BootkeyApi over a transport: one function per method name, and `on` for the named events only. */
export function apiOver(transport: ApiTransport): BootkeyApi {
  const api: Record<string, unknown> = {
    on(event: unknown, listener: (payload: unknown) => void): () => void {
      if (!isEventName(event)) throw new TypeError(`unknown event ${String(event)}`);
      if (typeof listener !== 'function') throw new TypeError('listener must be a function');
      return transport.subscribe(event, listener);
    },
  };
  for (const method of METHOD_NAMES) api[method] = (...args: unknown[]) => transport.call(method, args);
  return api as unknown as BootkeyApi;
}

/** The Electron IPC channel of a method (ipcRenderer.invoke) and of an event (webContents.send). */
export const methodChannel = (method: MethodName): string => `bootkey:call:${method}`;
export const eventChannel = (event: EventName): string => `bootkey:event:${event}`;

// ---------------------------------------------------------------------------------------------------- web wire

/** One call over the web host's WebSocket; `id` pairs it with its reply. */
export interface WireCall {
  id: number;
  method: MethodName;
  args: unknown[];
}
export type WireMessage =
  | { kind: 'reply'; id: number; result: ApiResult<unknown> }
  | { kind: 'event'; event: EventName; payload: unknown };

/** Checks the envelope of a call from the wire (the arguments are checked by the method's validator). */
export function parseWireCall(text: string): WireCall | string {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof data !== 'object' || data === null) return 'not an object';
  const { id, method, args } = data as Record<string, unknown>;
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) return 'id must be an integer';
  if (!isMethodName(method)) return `unknown method ${JSON.stringify(method)}`;
  if (!Array.isArray(args)) return 'args must be an array';
  return { id, method, args };
}

export function validationError(problem: string): ApiResult<never> {
  return { ok: false, error: { code: 'INVALID_ARGUMENT', message: `Invalid request: ${problem}.` } };
}
