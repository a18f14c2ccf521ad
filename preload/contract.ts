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
  /** Partition device node, `/dev/sdb1`. */
  device: string;
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

/** What an image file the user picked or dropped is, from inspecting its first structures only. */
export interface ImageInfoDto {
  path: string;
  name: string;
  size: number;
  /** `iso9660`, `udf`, `gpt`, `mbr`, `fat` or `unknown`. */
  format: string;
  label: string;
  /** Distribution family as recognised (`debian`, `memtest`, `unknown` …). */
  family: string;
  bios: boolean;
  uefi: boolean;
  warnings: string[];
}

/** Copy an image's UEFI boot files onto a key, keeping everything on it. */
export interface CopyEfiRequest {
  driveId: string;
  /** Absolute path of the ISO or disk image. */
  source: string;
  /** Move the user's conflicting files to /.bootkey/backup instead of refusing. */
  replace: boolean;
  /** Chosen by the UI; progress events carry it. */
  jobId: string;
}

export interface CopyEfiPlanDto {
  source: string;
  /** Where on the host the key's files are (its mount point). */
  targetRoot: string;
  targetFsType: string;
  /** Where the UEFI loaders come from, in words. */
  loaderSource: string;
  files: { path: string; size: number; action: 'add' | 'overwrite-own' | 'replace-user' }[];
  /** Bytes of file data to write. */
  bytes: number;
  /** Bytes the key must have free (clusters, manifest, temporaries). */
  requiredBytes: number;
  freeBytes: number;
  /** The user's files the copy would overwrite. */
  conflicts: { path: string; size: number }[];
  /** Why it cannot run as planned; empty when it can. */
  problems: { code: ErrorCode; message: string }[];
  warnings: string[];
}

export interface CopyEfiResultDto {
  plan: CopyEfiPlanDto;
  /** The manifest's operation id (what undo takes back). */
  operation: string;
  /** Files written, flushed, read back and compared with the SHA-256 of what was written. */
  verifiedFiles: number;
  verifiedBytes: number;
}

export interface UndoEfiDto {
  removed: string[];
  restored: string[];
  /** Files Bootkey added that were changed since: left in place. */
  kept: string[];
}

export interface IsoDto {
  name: string;
  size: number;
  family: string;
  bios: boolean;
  uefi: boolean;
  /** Its SHA-256 was recorded after the copy was read back, and the file still matches it. */
  verified: boolean;
  inMenu: boolean;
  /** Its title in the boot menu. */
  title: string;
}

export interface IsoLibraryDto {
  /** The key has Bootkey's multi-ISO GRUB and settings; false: `prepareMultiIso` first. */
  prepared: boolean;
  isos: IsoDto[];
}

export interface AddIsosRequest {
  driveId: string;
  /** Absolute paths of the ISO files, copied in this order. */
  files: string[];
  jobId: string;
}

export interface PrepareMultiIsoDto {
  bios: boolean;
  uefi: boolean;
  warnings: string[];
}

/** Menu settings of a multi-ISO key; fields left out stay as they are. */
export interface IsoMenuChanges {
  timeoutSeconds?: number;
  defaultName?: string;
  titles?: Record<string, string>;
  /** ISO file names in menu order; the ones left out follow, by name. */
  order?: string[];
}

/**
 * Progress of a long job: durable bytes (flushed to the key), never bytes only cached. Copy-EFI counts the bytes
 * of the whole job; adding ISOs counts the bytes of the file being copied.
 */
export interface JobProgressDto {
  jobId: string;
  phase: string;
  /** The key path or ISO name being written. */
  file: string;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second since the job (or, when bytes count per file, the file) started; 0 while unknown. */
  rate: number;
  /** Seconds left at that rate; 0 while the rate is unknown. */
  etaSeconds: number;
  /** A job of several steps (a merge): which one runs; its bytes count within this step (0 of 0: not counted). */
  step?: { index: number; count: number };
}

/** How full a persistence file is, read from the file alone. */
export interface PersistenceUsageDto {
  /** A device-mapper snapshot store (classic overlay) or an ext4 image (OverlayFS overlay, home.img). */
  kind: 'dm-snapshot' | 'overlayfs-ext4';
  /**
   * `new`: never used; `valid`; `overflow`: full, the live system stopped keeping changes; `invalid`: marked
   * unusable (a dm store the kernel invalidated, or an ext4 image with recorded errors).
   */
  state: 'new' | 'valid' | 'overflow' | 'invalid';
  usedBytes: number;
  capacityBytes: number;
  /** usedBytes / capacityBytes × 100, two decimals. */
  percentUsed: number;
  /** dm: chunks of the live image that were changed. */
  changedChunks?: number;
  /** dm: what `dmsetup status` prints for it when active. */
  dmStatus?: string;
  /** ext4: false when it was not cleanly unmounted. */
  clean?: boolean;
}

export interface PersistenceFileDto {
  /** `overlay-<LABEL>-<UUID>` or `home.img`. */
  name: string;
  /** Where it is on the key (`/LiveOS/…`, `/isos/…`): how the persistence methods name it. */
  keyPath: string;
  role: 'overlay' | 'home';
  /** The overlay dracut picks for this key's /LiveOS, or for its library ISO (named after its label and UUID). */
  matchesKey: boolean;
  /** The file's length on the key. */
  sizeBytes: number;
  /** An encrypted (LUKS) home.img: how full it is cannot be read while it is locked. */
  encrypted: boolean;
  /** An encrypted home.img's container, from its LUKS header (null when not encrypted). */
  luks: {
    version: 1 | 2;
    /** `aes-xts-plain64`. */
    cipher: string;
    /** Bytes of encrypted data (the filesystem inside may be smaller). */
    dataBytes: number;
    /** An encryption was started and not finished: cryptsetup must finish it before the live system can use it. */
    unfinished: boolean;
  } | null;
  /** Null when the file could not be read; `problem` says why. */
  usage: PersistenceUsageDto | null;
  problem: string | null;
  /** After create: the kernel parameters added to the live image's boot entries, and where they went. */
  kernelParams?: string[];
  bootEntries?: { file: string; entries: number }[];
  /** After create: why no boot entry got them (the user must add them by hand). */
  bootProblem?: string;
  /** An overlay a running live system uses: what the kernel says per device-mapper device. */
  kernel: { device: string; status: string }[];
  kernelProblem: string | null;
}

export interface LiveInstallationDto {
  /** Key path of its folder: `/LiveOS`, or `/isos` for a live ISO of the multi-ISO library. */
  dir: string;
  /** The key's extracted /LiveOS, or a Fedora live ISO of the multi-ISO library. */
  kind: 'extracted' | 'iso';
  /** kind `iso`: the ISO's file name (null for overlays in /isos whose ISO is gone). */
  iso: string | null;
  squashfs: boolean;
  rootfs: boolean;
  files: PersistenceFileDto[];
}

export const OVERLAY_TYPES = ['dm', 'overlayfs'] as const;
export type OverlayTypeDto = (typeof OVERLAY_TYPES)[number];

export interface CreatePersistenceRequest {
  driveId: string;
  /** `overlayfs`: an ext4 image (newer Fedora); `dm`: a device-mapper store for images with LiveOS/rootfs.img. */
  type: OverlayTypeDto;
  /** A Fedora live ISO of the multi-ISO library (its file name in /isos): the overlay goes next to it. Default: /LiveOS. */
  image?: string;
  /** Bytes. */
  size: number;
  /** Also a home.img of this many bytes. */
  homeSize?: number;
  /**
   * The home.img is encrypted (LUKS2) and opened at every boot with this passphrase (its UTF-8 bytes, as typed at
   * the boot prompt); needs homeSize. Never logged, never returned in a result or an error.
   */
  homePassphrase?: string;
}

export interface RecoverPersistenceDto {
  file: PersistenceFileDto;
  /** Key path of the saved header (restoring it undoes the recovery). */
  backup: string;
  before: PersistenceUsageDto;
  /** ext4: e2fsck's exit status (0 clean, 1 errors corrected). */
  fsckExitCode: number | null;
  /** dm: its filesystem checked on a scratch copy (null when not checked, with the reason in `overlayNotChecked`). */
  overlayVerdict: 'clean' | 'repairable' | 'beyond-repair' | null;
  overlayNotChecked: string | null;
}

export interface DeletePersistenceDto {
  /** Key paths of the files removed. */
  removed: string[];
  /** Boot entries the overlay's kernel parameters were taken out of. */
  bootEntries: { file: string; entries: number }[];
}

export interface MergePersistenceRequest {
  driveId: string;
  /** Key path of the dm overlay to merge into LiveOS/squashfs.img. */
  file: string;
  jobId: string;
}

export interface MergePersistenceDto {
  file: PersistenceFileDto;
  changedChunks: number;
  fsckExitCode: number;
  oldSquashfsBytes: number;
  newSquashfsBytes: number;
  /** SHA-256 of the merged rootfs.img, equal to the one read back out of the new squashfs.img. */
  rootfsSha256: string;
}

/** Everything Bootkey put on a key, from its manifest, the ISO library and the LiveOS folder. */
export interface KeySummaryDto {
  /** Copy-EFI operations from /.bootkey/manifest.json, oldest first. */
  operations: {
    id: string;
    /** `copy-efi` … */
    kind: string;
    /** The image the files came from. */
    source: string;
    startedAt: string;
    /** `writing`: interrupted (undo still takes it back). */
    state: 'writing' | 'complete';
    files: { path: string; size: number }[];
    /** The user's files it replaced, kept under /.bootkey/backup until undo. */
    replaced: { path: string; size: number }[];
  }[];
  /** The manifest could not be read: why (undo may not be possible). */
  manifestProblem: string | null;
  /** The multi-ISO library (not re-hashed here). */
  isos: IsoLibraryDto;
  persistence: LiveInstallationDto[];
}

// ---------------------------------------------------------------------------------------------------- the API

/** Events pushed to the UI, with their payloads. */
export interface BootkeyEvents {
  /** The whole drive list, each time a drive appears, disappears or changes. */
  drivesChanged: DriveDto[];
  jobProgress: JobProgressDto;
}
export type EventName = keyof BootkeyEvents;
export const EVENT_NAMES = ['drivesChanged', 'jobProgress'] as const satisfies readonly EventName[];

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
  /** Inspects an image file (absolute path) the user picked or dropped. */
  inspectImage(path: string): Promise<ApiResult<ImageInfoDto>>;
  /** The copy-EFI plan against the drive's FAT/exFAT filesystem; writes nothing. */
  planCopyEfi(request: CopyEfiRequest): Promise<ApiResult<CopyEfiPlanDto>>;
  /** Carries out copy-EFI, with `jobProgress` events; refused (nothing written) when the plan has problems. */
  copyEfi(request: CopyEfiRequest): Promise<ApiResult<CopyEfiResultDto>>;
  /** Takes back every file Bootkey added and restores what it replaced. */
  undoEfi(driveId: string): Promise<ApiResult<UndoEfiDto>>;
  /** The ISO files in the key's library, each re-hashed against its recorded SHA-256. */
  listIsos(driveId: string): Promise<ApiResult<IsoLibraryDto>>;
  /** Installs GRUB and the multi-ISO settings beside the key's files (not destructive); `jobId` makes it cancellable. */
  prepareMultiIso(driveId: string, jobId?: string): Promise<ApiResult<PrepareMultiIsoDto>>;
  /** Copies ISO files into the library, with `jobProgress` events per file; returns the library. */
  addIsos(request: AddIsosRequest): Promise<ApiResult<IsoLibraryDto>>;
  removeIsos(driveId: string, names: string[]): Promise<ApiResult<IsoLibraryDto>>;
  setIsoMenu(driveId: string, changes: IsoMenuChanges): Promise<ApiResult<IsoLibraryDto>>;
  /**
   * WEB TEST HOST ONLY: a page cannot know where a dropped file lives, so the host maps file names to files in
   * the one folder it was started with. The desktop app answers INVALID_ARGUMENT (it uses `pathForFile`).
   */
  droppedFilePaths(names: string[]): Promise<ApiResult<string[]>>;
  /** LiveOS folders on the key with each overlay's and home.img's usage. */
  listPersistence(driveId: string): Promise<ApiResult<LiveInstallationDto[]>>;
  /** One overlay or home.img; for an overlay a running live system uses, the kernel's numbers too. */
  persistenceStatus(driveId: string, file: string): Promise<ApiResult<PersistenceFileDto>>;
  /** Creates the overlay dracut will use for this key (and home.img); returns what was made. */
  createPersistence(request: CreatePersistenceRequest): Promise<ApiResult<PersistenceFileDto[]>>;
  /** Grows an overlay or home.img (`file`: its key path) to `size` bytes (never smaller). */
  growPersistence(driveId: string, file: string, size: number): Promise<ApiResult<PersistenceFileDto>>;
  /** DESTRUCTIVE for the file: everything the live system kept in it is lost. Only after the user confirmed. */
  resetPersistence(driveId: string, file: string): Promise<ApiResult<PersistenceFileDto>>;
  /** An overlay marked Invalid: its header saved beside it, then marked valid (ext4: e2fsck -y). Only after the user confirmed. */
  recoverPersistence(driveId: string, file: string): Promise<ApiResult<RecoverPersistenceDto>>;
  /**
   * DESTRUCTIVE: removes overlays or home.img (key paths) and takes their kernel parameters out of the boot
   * entries. Only after the user confirmed.
   */
  deletePersistence(driveId: string, files: string[]): Promise<ApiResult<DeletePersistenceDto>>;
  /** Merges a dm overlay into a new LiveOS/squashfs.img, then resets the overlay; `jobProgress` events. */
  mergePersistence(request: MergePersistenceRequest): Promise<ApiResult<MergePersistenceDto>>;
  /**
   * Stops a running job (copy-EFI, adding ISOs, preparing a multi-ISO key, a merge): it ends with CANCELLED and
   * the key as it was. False when no job has that id (it already ended).
   */
  cancelJob(jobId: string): Promise<ApiResult<boolean>>;
  /** What Bootkey put on the key: copied EFI files, ISO library, persistence files. */
  keySummary(driveId: string): Promise<ApiResult<KeySummaryDto>>;
  /** Desktop app only (the preload's webUtils.getPathForFile): where a dropped or picked File is. */
  pathForFile?(file: File): string;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: BootkeyEvents[E]) => void): () => void;
}

export type MethodName = Exclude<keyof BootkeyApi, 'on' | 'pathForFile'>;
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

const MAX_PATH = 4096;

/** An absolute path as a plain string: no NUL, no `.`/`..` segments (it is used as it is, never by a shell). */
function absolutePath(value: unknown, what = 'a file path'): string | undefined {
  if (typeof value !== 'string' || !value.startsWith('/') || value.length > MAX_PATH) return `${what} must be an absolute path`;
  if (value.includes('\0')) return `${what} must not contain NUL`;
  if (value.split('/').some((part) => part === '.' || part === '..')) return `${what} must not contain . or .. segments`;
  return undefined;
}

/** A file name without folders (an ISO in the library, a dropped file). */
function fileName(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) return 'a file name must be 1 to 255 characters';
  if (value.includes('/') || value.includes('\0') || value === '.' || value === '..') return 'a file name must not contain / or NUL';
  return undefined;
}

function list(value: unknown, each: (item: unknown) => string | undefined, max: number): string | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > max) return `expected a list of 1 to ${max} items`;
  for (const item of value) {
    const problem = each(item);
    if (problem) return problem;
  }
  return undefined;
}

const JOB_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;
const jobId = (value: unknown): string | undefined =>
  typeof value === 'string' && JOB_ID_PATTERN.test(value) ? undefined : 'a job id must be 1 to 64 letters, digits or -';

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function copyEfiRequest(value: unknown): string | undefined {
  const r = record(value);
  if (!r) return 'the request must be an object';
  if (typeof r.replace !== 'boolean') return 'replace must be true or false';
  return driveId(r.driveId) ?? absolutePath(r.source, 'source') ?? jobId(r.jobId);
}

function addIsosRequest(value: unknown): string | undefined {
  const r = record(value);
  if (!r) return 'the request must be an object';
  return driveId(r.driveId) ?? list(r.files, (f) => absolutePath(f), 64) ?? jobId(r.jobId);
}

/** GRUB menu titles are quoted by the menu generator; here only their size and control characters matter. */
function menuTitle(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 200 || /[\u0000-\u001f\u007f]/.test(value)) {
    return 'a title must be 1 to 200 characters without control characters';
  }
  return undefined;
}

function isoMenuChanges(value: unknown): string | undefined {
  const r = record(value);
  if (!r) return 'the changes must be an object';
  const known = ['timeoutSeconds', 'defaultName', 'titles', 'order'];
  const unknown = Object.keys(r).find((k) => !known.includes(k));
  if (unknown) return `unknown menu setting ${unknown}`;
  if (r.timeoutSeconds !== undefined && (!Number.isSafeInteger(r.timeoutSeconds) || (r.timeoutSeconds as number) < -1 || (r.timeoutSeconds as number) > 3600)) {
    return 'timeoutSeconds must be a whole number from -1 (wait) to 3600';
  }
  if (r.defaultName !== undefined) {
    const problem = fileName(r.defaultName);
    if (problem) return problem;
  }
  if (r.titles !== undefined) {
    const titles = record(r.titles);
    if (!titles) return 'titles must map ISO names to titles';
    for (const [name, title] of Object.entries(titles)) {
      const problem = fileName(name) ?? menuTitle(title);
      if (problem) return problem;
    }
  }
  if (r.order !== undefined) {
    const problem = list(r.order, fileName, 1024);
    if (problem) return `order: ${problem}`;
  }
  return undefined;
}

/** A size in bytes for a persistence file: a whole number from 1 byte to 1 TiB (the service checks its limits). */
function persistenceSize(value: unknown, what = 'size'): string | undefined {
  return Number.isSafeInteger(value) && (value as number) > 0 && (value as number) <= 2 ** 40 ? undefined : `${what} must be a whole number of bytes from 1 to 2^40`;
}

function createPersistenceRequest(value: unknown): string | undefined {
  const r = record(value);
  if (!r) return 'the request must be an object';
  const unknown = Object.keys(r).find((k) => !['driveId', 'type', 'image', 'size', 'homeSize', 'homePassphrase'].includes(k));
  if (unknown) return `unknown field ${unknown}`;
  if (!(OVERLAY_TYPES as readonly unknown[]).includes(r.type)) return `type must be ${OVERLAY_TYPES.join(' or ')}`;
  return driveId(r.driveId) ?? persistenceSize(r.size) ?? (r.homeSize === undefined ? undefined : persistenceSize(r.homeSize, 'homeSize'))
    ?? (r.image === undefined ? undefined : fileName(r.image)) ?? homePassphrase(r.homePassphrase, r.homeSize);
}

/**
 * Only its shape here (the contract cannot reach main/core): the dispatcher checks what can be typed at the boot
 * prompt with encrypted-home's own rules. The value never appears in a message.
 */
function homePassphrase(value: unknown, homeSize: unknown): string | undefined {
  if (value === undefined) return undefined;
  // Far past any passphrase the boot prompt takes (512 bytes): the rest is refused by the dispatcher's check.
  if (typeof value !== 'string' || value.length > 4096) return 'homePassphrase must be a string of at most 4096 characters';
  return homeSize === undefined ? 'homePassphrase is for an encrypted home.img: give homeSize too' : undefined;
}

/** A file on the key by its path from the key's root (`/LiveOS/overlay-…`). */
const keyPath = (value: unknown) => absolutePath(value, 'a key path');

function mergePersistenceRequest(value: unknown): string | undefined {
  const r = record(value);
  if (!r) return 'the request must be an object';
  return driveId(r.driveId) ?? keyPath(r.file) ?? jobId(r.jobId);
}

export const VALIDATE_ARGS: Validators = {
  getAppInfo: noArguments,
  listDrives: noArguments,
  getDrive: (args) => exactly(args, 1) ?? driveId(args[0]),
  eraseDrive: (args) => exactly(args, 1) ?? eraseRequest(args[0]),
  inspectImage: (args) => exactly(args, 1) ?? absolutePath(args[0]),
  planCopyEfi: (args) => exactly(args, 1) ?? copyEfiRequest(args[0]),
  copyEfi: (args) => exactly(args, 1) ?? copyEfiRequest(args[0]),
  undoEfi: (args) => exactly(args, 1) ?? driveId(args[0]),
  listIsos: (args) => exactly(args, 1) ?? driveId(args[0]),
  prepareMultiIso: (args) => (args.length === 1 || args.length === 2 ? undefined : `expected 1 or 2 arguments, got ${args.length}`)
    ?? driveId(args[0]) ?? (args.length === 2 ? jobId(args[1]) : undefined),
  addIsos: (args) => exactly(args, 1) ?? addIsosRequest(args[0]),
  removeIsos: (args) => exactly(args, 2) ?? driveId(args[0]) ?? list(args[1], fileName, 64),
  setIsoMenu: (args) => exactly(args, 2) ?? driveId(args[0]) ?? isoMenuChanges(args[1]),
  droppedFilePaths: (args) => exactly(args, 1) ?? list(args[0], fileName, 64),
  listPersistence: (args) => exactly(args, 1) ?? driveId(args[0]),
  persistenceStatus: (args) => exactly(args, 2) ?? driveId(args[0]) ?? keyPath(args[1]),
  createPersistence: (args) => exactly(args, 1) ?? createPersistenceRequest(args[0]),
  growPersistence: (args) => exactly(args, 3) ?? driveId(args[0]) ?? keyPath(args[1]) ?? persistenceSize(args[2]),
  resetPersistence: (args) => exactly(args, 2) ?? driveId(args[0]) ?? keyPath(args[1]),
  recoverPersistence: (args) => exactly(args, 2) ?? driveId(args[0]) ?? keyPath(args[1]),
  deletePersistence: (args) => exactly(args, 2) ?? driveId(args[0]) ?? list(args[1], keyPath, 16),
  mergePersistence: (args) => exactly(args, 1) ?? mergePersistenceRequest(args[0]),
  cancelJob: (args) => exactly(args, 1) ?? jobId(args[0]),
  keySummary: (args) => exactly(args, 1) ?? driveId(args[0]),
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
