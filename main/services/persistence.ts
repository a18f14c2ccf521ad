import { BootkeyError, ParseError } from '../core/errors.js';
import { ISO_DIR } from '../core/grub/grub-menu.js';
import { inspectImage } from '../core/inspect/inspect-image.js';
import {
  JOURNAL_PATH, MANIFEST_DIR, MANIFEST_PATH, PERSISTENCE_KIND, serializeManifest, withOperation,
  withoutPersistenceFile, withRewrittenFile, type KeyManifest, type ManifestOperation,
} from '../core/key-manifest.js';
import { parseSettings, SETTINGS_PATH } from '../core/multiboot/multiboot-settings.js';
import {
  changedBlocks, checkMergeSpace, planMergeCopies, planMergeSpace, readSquashfsInfo, type ChunkCopy, type SquashfsInfo,
} from '../core/persistence/dm-merge.js';
import { readDmSnapshot, RESET_BYTES, SECTOR_BYTES, VALID_FLAG_OFFSET, type DmException, type DmSnapshotUsage } from '../core/persistence/dm-snapshot.js';
import {
  editLiveEntries, editParamString, LIVE_GRUB_CFGS, overlayParams, withOverlayParams, withoutOverlayParams,
} from '../core/persistence/overlay-kernel-params.js';
import { hasLuksMagic, readLuksHeader, type LuksHeader } from '../core/persistence/luks-header.js';
import { readOverlayUsage, type OverlayUsage } from '../core/persistence/overlay-status.js';
import { compressorArguments, readSingleFileImage } from '../core/persistence/squashfs-reuse.js';
import {
  HOME_IMAGE, LIVE_DIR, OVERLAYFS_DIRS, checkPersistenceSize, headerBackupName, isOverlayFileName, overlayFileName, type OverlayType,
} from '../core/persistence/persistence-plan.js';
import type { DurableWriter } from '../ports/durable-writer.js';
import type { KeyFiles } from '../ports/key-files.js';
import type { LuksHomeMaker } from '../ports/luks-home.js';
import type { PrivilegedRunner } from '../ports/privileged-runner.js';
import type {
  ClosableByteSource, Ext4CheckResult, Ext4Tools, PersistenceEntry, PersistenceFiles, SquashfsTools,
} from '../ports/persistence-files.js';
import { readKeyManifest } from './key-manifest-reader.js';
import { rebuildReusingBlocks } from './squashfs-rebuild.js';
import type { MultibootService } from './multiboot.js';

/** The part of a key target persistence needs (services/key-target's KeyTarget has all of it). */
export interface PersistenceTarget {
  readonly root: string;
  readonly fsType: string;
  readonly freeBytes: number;
  readonly uuid: string | null;
  readonly label: string;
  recheck(): Promise<void>;
  release(): Promise<void>;
}

export interface PersistenceDeps {
  files: PersistenceFiles;
  ext4: Ext4Tools;
  squashfs: SquashfsTools;
  /** The helper, for `dmsetup status` of an overlay a running live system uses; without it, offline numbers only. */
  runner?: PrivilegedRunner;
  openTarget(spec: string): Promise<PersistenceTarget>;
  /** For backup names and manifest records. */
  now(): Date;
  /** The key's small files (manifest, grub.cfg, multi-ISO settings) and their atomic replacement. */
  keyFiles: KeyFiles;
  writer: DurableWriter;
  /**
   * The multi-ISO key's menu: a library ISO's overlay goes into that ISO's extra kernel parameters, so every
   * later regeneration of the menu keeps it. Given the key's mount point as the target.
   */
  multiboot?: Pick<MultibootService, 'menu'>;
  /** Encrypted home.img (create with a passphrase); without it, only plain ones. */
  luks?: LuksHomeMaker;
}

/** Asked before a change that loses data, with what is lost in words; false cancels (nothing changed). */
export type Confirm = (description: string) => Promise<boolean>;

/** A Fedora live ISO of the multi-ISO library, as dracut sees it when iso-scan loop-mounts it. */
export interface LibraryIso {
  /** File name in /isos/. */
  name: string;
  label: string;
  /** blkid's UUID of the ISO (its modification date). */
  uuid: string;
}

/** The live filesystem's identity as dracut reads it; given by the user when the target cannot tell. */
export interface LiveIdentity {
  label?: string;
  uuid?: string;
}

export interface PersistenceFile {
  name: string;
  /** Absolute path. */
  path: string;
  role: 'overlay' | 'home';
  /** The overlay dracut would pick for this key (its label and UUID in the name), or for its library ISO. */
  matchesKey: boolean;
  /** Key path (`/LiveOS/overlay-…`, `/isos/overlay-…`). */
  keyPath: string;
  /** The file's length on the key (what it takes there, whatever it holds). */
  sizeBytes: number;
  /** The library ISO (file name in /isos/) this overlay belongs to. */
  iso?: string;
  /** After create: the kernel parameters added to the boot entries of its live image. */
  kernelParams?: string[];
  /** After create: where they went (a grub.cfg and how many of its entries, or the multi-ISO settings). */
  bootEntries?: { file: string; entries: number }[];
  /** After create: why no boot entry got them (the user must add them). */
  bootProblem?: string;
  usage?: OverlayUsage;
  /** An encrypted home.img: its LUKS container (no usage: that is unknown while it is locked). */
  luks?: LuksHeader;
  /** Why the usage could not be read. */
  problem?: string;
  /** An overlay in use: what the kernel says for each device-mapper device over it (after `<start> <length> snapshot`). */
  kernel?: { device: string; status: string }[];
  /** Why the kernel's numbers could not be had (helper missing, password refused). */
  kernelProblem?: string;
}

export interface LiveInstallation {
  /** Absolute path of the LiveOS folder, or of /isos for a library ISO. */
  dir: string;
  /** The key's extracted /LiveOS, or a Fedora live ISO of the multi-ISO library. */
  kind: 'extracted' | 'iso';
  /** kind 'iso': the ISO; absent for overlays in /isos whose ISO is no longer there. */
  iso?: LibraryIso;
  squashfs: boolean;
  /** An uncompressed LiveOS/rootfs.img beside squashfs.img (old layouts). */
  rootfs: boolean;
  files: PersistenceFile[];
}

export interface CreateRequest extends LiveIdentity {
  type: OverlayType;
  /**
   * A Fedora live ISO of the multi-ISO library (file name in /isos/): its overlay goes next to it, named after
   * the ISO's label and UUID; `uuid` then names the key when the target cannot tell. Default: /LiveOS.
   */
  image?: string;
  size: number;
  /** Also a home.img of this size. */
  homeSize?: number;
  /** The home.img is LUKS-encrypted, opened at boot by this passphrase (its exact bytes). */
  homePassphrase?: Uint8Array;
}

export interface RecoverResult {
  path: string;
  /** Where the header was saved before the change. */
  backup: string;
  before: OverlayUsage;
  after: OverlayUsage;
  /** For an ext4 overlay: e2fsck -f -y on the file. */
  fsck?: Ext4CheckResult;
  /** For a dm overlay: the filesystem it shows, checked offline; or why it was not checked. */
  overlayCheck?: OverlayCheck | { notChecked: string };
}

/**
 * The filesystem a dm overlay shows over its rootfs.img, checked on a scratch copy (the image extracted, the
 * overlay's changes copied on: the bytes the kernel's snapshot shows). Nothing on the key is changed.
 */
export interface OverlayCheck {
  /** e2fsck -f -n of the copy. */
  check: Ext4CheckResult;
  /** Only when the check found errors: e2fsck -f -y on the same copy, to tell whether they can be repaired. */
  repairTrial?: Ext4CheckResult;
  /** clean; repairable (merging runs e2fsck -y on the merged image); beyond repair (only a reset helps). */
  verdict: 'clean' | 'repairable' | 'beyond-repair';
}

/** The origin of a dm overlay inside squashfs.img, where dracut's dmsquash-live finds it. */
export const ROOTFS_IN_SQUASHFS = `${LIVE_DIR}/rootfs.img`;

export interface DeleteResult {
  /** Key paths of the files removed. */
  removed: string[];
  /** Where kernel parameters were taken out. */
  bootEntries: { file: string; entries: number }[];
}

export interface MergeResult {
  overlay: string;
  squashfs: string;
  compression: SquashfsInfo['compression'];
  blockSize: number;
  exceptions: number;
  /** Positioned copies after coalescing consecutive chunks. */
  copies: number;
  writtenBytes: number;
  /** Zero chunks over zeros, left as holes. */
  skippedBytes: number;
  /** e2fsck -f -y of the merged rootfs.img: 0 clean, 1 errors corrected. */
  fsck: Ext4CheckResult;
  rootfsBytes: number;
  /** SHA-256 of the merged rootfs.img, equal to the one read back out of the new squashfs.img. */
  rootfsSha256: string;
  oldSquashfsBytes: number;
  newSquashfsBytes: number;
  /**
   * How the new squashfs.img was made: the old image's compressed blocks reused and only the changed blocks
   * compressed, or (with the reason) everything compressed again by mksquashfs.
   */
  rebuild: { method: 'reused-blocks'; reusedBlocks: number; changedBlocks: number } | { method: 'mksquashfs'; why: string };
  /** The overlay after its reset. */
  after: OverlayUsage;
  /** Milliseconds per step. */
  timings: Record<string, number>;
}

/** The steps of a merge, in the order they run. */
export const MERGE_PHASES = ['extract', 'apply', 'fsck', 'hash', 'mksquashfs', 'verify', 'swap'] as const;
export type MergePhase = (typeof MERGE_PHASES)[number];

/**
 * Where a merge is: told when each step starts, and during `apply` after each batch of chunks (bytes of the
 * overlay's changed chunks applied of all of them). `total` 0: the step's progress is not counted.
 */
export interface MergeProgress {
  phase: MergePhase;
  done: number;
  total: number;
}

/** Changed chunks are applied in at most this many flushed batches (each a progress report and a cancel point)… */
const APPLY_BATCHES = 20;
/** …of at least this many bytes (a small overlay is one flush, as before). */
const MIN_APPLY_BATCH_BYTES = 16 * 1024 * 1024;

/** The copies cut into consecutive batches of about `batchBytes`, a long coalesced copy split where needed. */
function applyBatches(copies: readonly ChunkCopy[], batchBytes: number): ChunkCopy[][] {
  const batches: ChunkCopy[][] = [];
  let batch: ChunkCopy[] = [];
  let room = batchBytes;
  for (const copy of copies) {
    for (let at = 0; at < copy.length;) {
      const length = Math.min(room, copy.length - at);
      batch.push({ cowOffset: copy.cowOffset + at, originOffset: copy.originOffset + at, length });
      at += length;
      room -= length;
      if (room === 0) {
        batches.push(batch);
        batch = [];
        room = batchBytes;
      }
    }
  }
  if (batch.length) batches.push(batch);
  return batches;
}

/** Manifests, settings and grub.cfg files are small; a larger one is not what we think it is. */
const SMALL_FILE_LIMIT = 1024 * 1024;

type BootEntries = { file: string; entries: number }[];

/** Where create puts an overlay and how it edits the boot entries of its live image. */
interface CreatePlace {
  dir: string;
  name: string;
  /** The key's filesystem UUID for rd.live.overlay. */
  keyUuid: string;
  iso?: string;
  bootPlan: (edit: (words: string[]) => string[]) => Promise<BootEntries>;
}

const rootOf = (target: PersistenceTarget) => target.root.replace(/\/$/, '');

/** What a persistence file holds, in words, for a confirmation. */
function contentOf(file: PersistenceFile): string {
  const what = file.role === 'home' ? 'the files in /home of the live system' : 'every change the live system saved in it';
  const u = file.usage;
  return u ? `${what}: ${u.usedBytes} bytes used of ${u.capacityBytes} (${u.percentUsed}%)` : what;
}

function identityOf(target: PersistenceTarget, given: LiveIdentity): { label: string; uuid: string } {
  const uuid = given.uuid ?? target.uuid;
  if (!uuid) {
    throw new BootkeyError('INVALID_ARGUMENT', `the UUID of the filesystem at ${target.root} is unknown; give it with --uuid (and --label)`);
  }
  return { label: given.label ?? target.label, uuid };
}

/**
 * LiveOS persistence on a key: find, create, measure, grow, reset and recover overlays and home.img. Every
 * change checks size limits and free space first and refuses a file a loop device has open.
 */
export class PersistenceService {
  constructor(private readonly deps: PersistenceDeps) {}

  private async withTarget<T>(spec: string, work: (target: PersistenceTarget) => Promise<T>): Promise<T> {
    const target = await this.deps.openTarget(spec);
    try {
      return await work(target);
    } finally {
      await target.release();
    }
  }

  /** Reads one persistence file offline. */
  async usageOf(path: string): Promise<OverlayUsage> {
    const source = await this.deps.files.open(path);
    try {
      // A LUKS home.img has no usage to read while it is locked: say so, rather than "no SnAp magic".
      if (await hasLuksMagic(source)) throw new BootkeyError('UNSUPPORTED_IMAGE', 'encrypted (LUKS): how full it is cannot be read while it is locked', { path });
      return await readOverlayUsage(source);
    } finally {
      await source.close();
    }
  }

  /** One persistence file found in a folder, read offline. */
  private async describe(root: string, dir: string, entry: PersistenceEntry, role: PersistenceFile['role'], matchesKey: boolean, iso?: string): Promise<PersistenceFile> {
    const { name, size: sizeBytes } = entry;
    const path = `${dir}/${name}`;
    const file: PersistenceFile = { name, path, role, matchesKey, keyPath: path.slice(root.length), sizeBytes, ...(iso !== undefined ? { iso } : {}) };
    try {
      const luks = await this.withSource(path, readLuksHeader);
      if (luks) {
        file.luks = luks;
        file.problem = `encrypted (LUKS${luks.version}): how full it is cannot be read while it is locked`;
      } else {
        file.usage = await this.usageOf(path);
      }
    } catch (error) {
      file.problem = error instanceof Error ? error.message : String(error);
    }
    return file;
  }

  private async installation(target: PersistenceTarget, identity: LiveIdentity): Promise<LiveInstallation | undefined> {
    const root = rootOf(target);
    const dir = `${root}/${LIVE_DIR}`;
    const entries = await this.deps.files.list(dir);
    if (entries.length === 0) return undefined;
    const uuid = identity.uuid ?? target.uuid;
    const expected = uuid ? overlayFileName(identity.label ?? target.label, uuid) : undefined;
    const files: PersistenceFile[] = [];
    for (const entry of entries) {
      const role = entry.name === HOME_IMAGE ? 'home' : isOverlayFileName(entry.name) ? 'overlay' : undefined;
      if (!role || entry.kind !== 'file') continue;
      files.push(await this.describe(root, dir, entry, role, entry.name === expected));
    }
    const has = (name: string) => entries.some((e) => e.name === name && e.kind === 'file');
    return { dir, kind: 'extracted', squashfs: has('squashfs.img'), rootfs: has('rootfs.img'), files };
  }

  /**
   * The Fedora live ISOs of a multi-ISO library, each with the overlays next to it that carry its label and UUID
   * in their name (dracut's naming rule for a live root found through iso-scan); overlays in /isos whose ISO is
   * gone come last, in an installation without an ISO.
   */
  private async library(target: PersistenceTarget): Promise<LiveInstallation[]> {
    const root = rootOf(target);
    const dir = `${root}${ISO_DIR}`;
    const entries = (await this.deps.files.list(dir)).filter((e) => e.kind === 'file');
    const overlays = entries.filter((e) => isOverlayFileName(e.name));
    const claimed = new Set<string>();
    const found: LiveInstallation[] = [];
    for (const entry of entries.filter((e) => !e.name.startsWith('.') && /\.iso$/i.test(e.name))) {
      const inspection = await this.withSource(`${dir}/${entry.name}`, inspectImage).catch((error: unknown) => {
        if (error instanceof BootkeyError) return undefined; // a damaged ISO has no live system to persist
        throw error;
      });
      if (inspection?.family !== 'fedora-live' || !inspection.uuid || /[/\0]/.test(inspection.label + inspection.uuid)) continue;
      const iso: LibraryIso = { name: entry.name, label: inspection.label, uuid: inspection.uuid };
      const own = overlayFileName(iso.label, iso.uuid);
      const files: PersistenceFile[] = [];
      for (const overlay of overlays.filter((e) => e.name === own)) {
        claimed.add(overlay.name);
        files.push(await this.describe(root, dir, overlay, 'overlay', true, iso.name));
      }
      found.push({ dir, kind: 'iso', iso, squashfs: false, rootfs: false, files });
    }
    const orphans = overlays.filter((e) => !claimed.has(e.name));
    if (orphans.length) {
      const files = await Promise.all(orphans.map((e) => this.describe(root, dir, e, 'overlay', false)));
      found.push({ dir, kind: 'iso', squashfs: false, rootfs: false, files });
    }
    return found;
  }

  private async installations(target: PersistenceTarget, identity: LiveIdentity): Promise<LiveInstallation[]> {
    const extracted = await this.installation(target, identity);
    return [...(extracted ? [extracted] : []), ...(await this.library(target))];
  }

  /** The key's extracted /LiveOS and the Fedora live ISOs of its multi-ISO library, with their persistence files. */
  list(spec: string, identity: LiveIdentity = {}): Promise<LiveInstallation[]> {
    return this.withTarget(spec, (target) => this.installations(target, identity));
  }

  /**
   * The file a command acts on: `name` (a file name, or its key path when two folders hold the name), else the
   * overlay dracut would use for this key's /LiveOS, else the only overlay there.
   */
  private async pick(target: PersistenceTarget, identity: LiveIdentity, name?: string): Promise<PersistenceFile> {
    const all = await this.installations(target, identity);
    if (all.length === 0) throw new BootkeyError('NOT_FOUND', `no ${LIVE_DIR} folder and no Fedora live ISO in ${ISO_DIR} on ${target.root}`);
    if (name !== undefined) {
      const wanted = `/${name.replace(/^\/+/, '')}`.toLowerCase();
      const files = all.flatMap((i) => i.files);
      const matches = files.filter((f) => f.name === name || f.keyPath.toLowerCase() === wanted);
      if (matches.length > 1) {
        throw new BootkeyError('INVALID_ARGUMENT', `${name} is in several folders: name one of ${matches.map((f) => f.keyPath).join(', ')}`);
      }
      if (!matches[0]) {
        throw new BootkeyError('NOT_FOUND', `no ${name} on the key (there are: ${files.map((f) => f.keyPath).join(', ') || 'none'})`,
          { files: files.map((f) => f.keyPath) });
      }
      return matches[0];
    }
    const files = all.find((i) => i.kind === 'extracted')?.files ?? [];
    const overlays = files.filter((f) => f.role === 'overlay');
    const chosen = files.find((f) => f.matchesKey) ?? (overlays.length === 1 ? overlays[0] : undefined);
    if (!chosen) {
      const every = all.flatMap((i) => i.files).map((f) => f.keyPath);
      throw new BootkeyError('NOT_FOUND', `name the overlay: ${every.join(', ') || 'there is none'}`, { files: every });
    }
    return chosen;
  }

  /** Offline numbers; for a dm overlay a running system uses, the kernel's beside them (through the helper). */
  status(spec: string, identity: LiveIdentity = {}, name?: string): Promise<PersistenceFile> {
    return this.withTarget(spec, async (target) => {
      const file = await this.pick(target, identity, name);
      const runner = this.deps.runner;
      if (!runner || file.usage?.type !== 'dm-snapshot') return file;
      const devices = await this.deps.files.deviceMapperUsers(file.path);
      try {
        const kernel = [];
        for (const device of devices) {
          const events = await runner.run({ verb: 'dm-status', name: device });
          const line = String(events.find((e) => e.event === 'dm-status')?.status ?? '');
          kernel.push({ device, status: line.replace(/^\d+ \d+ snapshot /, '') });
        }
        return devices.length ? { ...file, kernel } : file;
      } catch (error) {
        return { ...file, kernelProblem: error instanceof Error ? error.message : String(error) };
      }
    });
  }

  /**
   * Creates the overlay dracut will find for this key's /LiveOS (and home.img), or for a library ISO next to it,
   * after checking limits and free space; records the files in the key's manifest and adds the kernel
   * parameters to the boot entries of that live image (every check, including the boot entries', before the
   * first byte).
   */
  create(spec: string, request: CreateRequest): Promise<PersistenceFile[]> {
    return this.withTarget(spec, async (target) => {
      const root = rootOf(target);
      const place = request.image === undefined ? await this.extractedPlace(target, request) : await this.libraryPlace(target, request);
      const { dir, name, bootPlan } = place;
      const entries = await this.deps.files.list(dir);
      const overlay = checkPersistenceSize(request.type === 'dm' ? 'dm' : 'ext4', request.size, target.fsType, target.freeBytes);
      const home = request.homeSize === undefined ? undefined
        : checkPersistenceSize('ext4', request.homeSize, target.fsType, target.freeBytes - overlay.requiredBytes);
      const encryptHome = await this.homeEncryption(request, home?.bytes);
      const conflicts = [name, ...(home ? [HOME_IMAGE] : [])].filter((n) => entries.some((e) => e.name === n));
      if (conflicts.length) throw new BootkeyError('CONFLICT', `${conflicts.join(' and ')} already exist in ${dir}`, { files: conflicts });
      const path = `${dir}/${name}`;
      const madePaths = [path, ...(home ? [`${dir}/${HOME_IMAGE}`] : [])];
      await target.recheck();
      let operation: ManifestOperation = {
        id: `persistence-${this.deps.now().toISOString()}`, kind: PERSISTENCE_KIND, source: place.iso ?? `/${LIVE_DIR}`,
        startedAt: this.deps.now().toISOString(), state: 'writing',
        added: madePaths.map((p) => ({ path: p.slice(root.length), size: p === path ? overlay.bytes : home?.bytes ?? 0, sha256: null })),
        replaced: [], createdDirectories: [], temporaries: [],
      };
      // Recorded before the first byte, so a pulled key still tells what Bootkey was making.
      await this.updateManifest(target, (m) => withOperation(m, operation));
      // A zeroed dm store is a new snapshot to the kernel: it writes the header on first activation.
      if (request.type === 'dm') await this.deps.files.createZeroed(path, overlay.bytes);
      else await this.deps.ext4.make(path, overlay.bytes, { label: 'overlay', directories: OVERLAYFS_DIRS });
      if (home) await (encryptHome ? encryptHome(`${dir}/${HOME_IMAGE}`) : this.deps.ext4.make(`${dir}/${HOME_IMAGE}`, home.bytes, { label: 'home', directories: [] }));
      const params = overlayParams(place.keyUuid, path.slice(root.length), request.type);
      const boot = await bootPlan((words) => withOverlayParams(words, params));
      operation = { ...operation, state: 'complete' };
      await this.updateManifest(target, (m) => withOperation(m, operation));
      const listed = await this.deps.files.list(dir);
      const made = await Promise.all(madePaths.map((p) => {
        const entry = listed.find((e) => e.name === p.slice(dir.length + 1));
        if (!entry) throw new BootkeyError('IO_ERROR', `${p} is not on the key after it was made`);
        return this.describe(root, dir, entry, p === path ? 'overlay' : 'home', p === path, place.iso);
      }));
      const entryCount = boot.reduce((n, b) => n + b.entries, 0);
      return made.map((f) => (f.role !== 'overlay' ? f : {
        ...f, kernelParams: params, bootEntries: boot,
        ...(entryCount === 0 ? { bootProblem: `no boot entry on the key boots this live image (root=live: or rd.live.image): add ${params.join(' ')} to its kernel parameters yourself` } : {}),
      }));
    });
  }

  /** An encrypted home.img's maker, its passphrase, size and tools checked before the first byte; none without a passphrase. */
  private async homeEncryption(request: CreateRequest, homeBytes: number | undefined): Promise<((path: string) => Promise<void>) | undefined> {
    const { homePassphrase: passphrase } = request;
    if (passphrase === undefined) return undefined;
    if (homeBytes === undefined) throw new BootkeyError('INVALID_ARGUMENT', 'a passphrase is for an encrypted home.img: give its size too');
    const maker = this.deps.luks;
    if (!maker) throw new BootkeyError('INTERNAL', 'an encrypted home.img cannot be made here');
    await maker.check(homeBytes, passphrase);
    return (path) => maker.make(path, homeBytes, { label: 'home', passphrase });
  }

  /** The key's /LiveOS: the overlay named after the key's label and UUID, its parameters in the key's grub.cfg files. */
  private async extractedPlace(target: PersistenceTarget, request: CreateRequest): Promise<CreatePlace> {
    const { label, uuid } = identityOf(target, request);
    const dir = `${rootOf(target)}/${LIVE_DIR}`;
    const entries = await this.deps.files.list(dir);
    if (!entries.some((e) => e.name === 'squashfs.img' || e.name === 'rootfs.img')) {
      throw new BootkeyError('NOT_FOUND', `${dir} holds no squashfs.img or rootfs.img: copy the live image onto the key first`);
    }
    const name = overlayFileName(label, uuid);
    // The parameters are checked before anything is written; the grub.cfg files are read again when edited.
    overlayParams(uuid, `/${LIVE_DIR}/${name}`, request.type);
    return { dir, name, keyUuid: uuid, bootPlan: (edit) => this.editGrubCfgs(target, edit) };
  }

  /** A Fedora live ISO in /isos: the overlay next to it, its parameters in the ISO's extra kernel parameters. */
  private async libraryPlace(target: PersistenceTarget, request: CreateRequest): Promise<CreatePlace> {
    const { multiboot } = this.deps;
    if (!multiboot) throw new BootkeyError('INTERNAL', 'the multi-ISO menu is not available here');
    if (request.homeSize !== undefined) {
      throw new BootkeyError('INVALID_ARGUMENT', 'a live system booted from an ISO file looks for home.img inside the ISO, not on the key: no --home for a library ISO');
    }
    const settings = await this.multibootSettings(target);
    const isos = (await this.library(target)).flatMap((i) => (i.iso ? [i.iso] : []));
    const iso = isos.find((i) => i.name.toLowerCase() === request.image?.toLowerCase());
    if (!iso) {
      throw new BootkeyError('NOT_FOUND', `no Fedora live ISO named ${request.image} in ${ISO_DIR} (there are: ${isos.map((i) => i.name).join(', ') || 'none'})`);
    }
    const keyUuid = target.uuid ?? request.uuid;
    if (!keyUuid) throw new BootkeyError('INVALID_ARGUMENT', `the UUID of the key's filesystem at ${target.root} is unknown; give it with --uuid`);
    const name = overlayFileName(iso.label, iso.uuid);
    overlayParams(keyUuid, `${ISO_DIR}/${name}`, request.type);
    return {
      dir: `${rootOf(target)}${ISO_DIR}`, name, keyUuid, iso: iso.name,
      bootPlan: (edit) => this.editIsoParams(target, iso.name, edit, settings.isos[iso.name]?.extraParams ?? ''),
    };
  }

  private async multibootSettings(target: PersistenceTarget) {
    const bytes = await this.deps.keyFiles.readSmallFile(`${rootOf(target)}${SETTINGS_PATH}`, SMALL_FILE_LIMIT);
    if (!bytes) throw new BootkeyError('NOT_FOUND', `${target.root} is not a multi-ISO key (no ${SETTINGS_PATH})`);
    return parseSettings(new TextDecoder().decode(bytes));
  }

  /** The ISO's extra kernel parameters edited through the multi-ISO service, which rewrites its menu. */
  private async editIsoParams(target: PersistenceTarget, iso: string, edit: (words: string[]) => string[], current: string): Promise<BootEntries> {
    const extraParams = editParamString(current, edit);
    if (extraParams === current) return [{ file: SETTINGS_PATH, entries: 1 }];
    const menu = await this.deps.multiboot!.menu(target.root, { extraParams: { [iso]: extraParams } });
    return [{ file: SETTINGS_PATH, entries: menu.entries.filter((e) => e.name === iso).length }];
  }

  /**
   * Every grub.cfg of the key with entries that boot its /LiveOS, edited word by word and replaced atomically
   * where something changed; a file Bootkey's manifest records gets its new hash there.
   */
  private async editGrubCfgs(target: PersistenceTarget, edit: (words: string[]) => string[]): Promise<BootEntries> {
    const root = rootOf(target);
    const done: { file: string; entries: number }[] = [];
    for (const keyPath of LIVE_GRUB_CFGS) {
      const bytes = await this.deps.keyFiles.readSmallFile(`${root}${keyPath}`, SMALL_FILE_LIMIT);
      if (!bytes) continue;
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        continue; // not text GRUB wrote for a live image
      }
      const result = editLiveEntries(text, edit);
      if (result.entries === 0) continue;
      done.push({ file: keyPath, entries: result.entries });
      if (result.changed === 0) continue;
      const written = await this.deps.writer.replaceAtomically(`${root}${keyPath}`, new TextEncoder().encode(result.text));
      await this.updateManifest(target, (m) => withRewrittenFile(m, keyPath, { size: written.bytes, sha256: written.sha256 }), false);
    }
    return done;
  }

  /** The key's manifest (or what survived of it with its journal). */
  manifestOf(target: PersistenceTarget): Promise<KeyManifest> {
    return readKeyManifest(this.deps.keyFiles, rootOf(target));
  }

  /**
   * Changes the manifest as copy-efi does: the journal first, then the manifest, then the journal goes, so one
   * of the two is whole at every moment. `create` false: nothing is written when the key has no manifest yet.
   */
  private async updateManifest(target: PersistenceTarget, change: (m: KeyManifest) => KeyManifest, create = true): Promise<void> {
    const root = rootOf(target);
    const exists = (await this.deps.keyFiles.kind(`${root}${MANIFEST_PATH}`)) === 'file';
    if (!exists && !create) return;
    const next = serializeManifest(change(await this.manifestOf(target)));
    await this.deps.keyFiles.makeDirectory(`${root}${MANIFEST_DIR}`);
    await this.deps.writer.replaceAtomically(`${root}${JOURNAL_PATH}`, next);
    await this.deps.writer.replaceAtomically(`${root}${MANIFEST_PATH}`, next);
    await this.deps.keyFiles.removeFile(`${root}${JOURNAL_PATH}`);
  }

  private async notInUse(path: string): Promise<void> {
    if (await this.deps.files.inUse(path)) {
      throw new BootkeyError('DRIVE_BUSY', `${path} is in use by a loop device (a running live system or another tool)`);
    }
  }

  /** Grows an overlay or home.img to `size` bytes; shrinking is refused with the reason. */
  grow(spec: string, size: number, identity: LiveIdentity = {}, name?: string): Promise<PersistenceFile> {
    return this.withTarget(spec, async (target) => {
      const file = await this.pick(target, identity, name);
      if (!file.usage) throw new BootkeyError('MALFORMED_IMAGE', `${file.path}: ${file.problem}`);
      await this.notInUse(file.path);
      const kind = file.usage.type === 'dm-snapshot' ? 'dm' : 'ext4';
      const { bytes } = checkPersistenceSize(kind, size, target.fsType, target.freeBytes, file.usage.capacityBytes);
      await target.recheck();
      if (kind === 'dm') {
        // The kernel reads the store's size at activation; new chunks simply go into the added space.
        await this.deps.files.extend(file.path, bytes);
      } else {
        const check = await this.deps.ext4.check(file.path, true);
        if (check.exitCode > 1) throw new BootkeyError('MALFORMED_IMAGE', `e2fsck left errors in ${file.path}; not resizing:\n${check.output.slice(-500)}`);
        await this.deps.ext4.resize(file.path, bytes);
      }
      return this.measured(file);
    });
  }

  /** The file as it is after a change in place: its length and usage read again. */
  private async measured(file: PersistenceFile): Promise<PersistenceFile> {
    const sizeBytes = await this.withSource(file.path, async (source) => source.size);
    return { ...file, sizeBytes, usage: await this.usageOf(file.path) };
  }

  /**
   * Empties an overlay: a dm store's header region zeroed (a new store), an ext4 overlay made afresh.
   * `confirm` (when the caller has not asked already) is told what is lost.
   */
  reset(spec: string, identity: LiveIdentity = {}, name?: string, confirm?: Confirm): Promise<PersistenceFile> {
    return this.withTarget(spec, async (target) => {
      const file = await this.pick(target, identity, name);
      if (file.luks) throw new BootkeyError('INVALID_ARGUMENT', `${file.keyPath} is encrypted: delete it and create a new one instead of a reset`);
      await this.notInUse(file.path);
      await this.confirmed(confirm, `reset ${file.keyPath}: ${contentOf(file)} is lost`);
      await target.recheck();
      await this.resetFile(file);
      return this.measured(file);
    });
  }

  /**
   * Deletes persistence files (overlays, home.img): their kernel parameters leave the boot entries first (a boot
   * never looks for a file that is gone), then the files, then their record in the manifest.
   */
  delete(spec: string, names: readonly string[], identity: LiveIdentity = {}, confirm?: Confirm): Promise<DeleteResult> {
    return this.withTarget(spec, async (target) => {
      if (names.length === 0) throw new BootkeyError('INVALID_ARGUMENT', 'name the overlay or home.img to delete');
      const files: PersistenceFile[] = [];
      for (const name of names) {
        const file = await this.pick(target, identity, name);
        if (!files.some((f) => f.path === file.path)) files.push(file);
      }
      for (const file of files) await this.notInUse(file.path);
      await this.confirmed(confirm, `delete from ${target.root}: ${files.map((f) => `${f.keyPath} (${contentOf(f)})`).join('; ')}`);
      await target.recheck();
      const bootEntries: BootEntries = [];
      for (const file of files.filter((f) => f.role === 'overlay')) {
        const edit = (words: string[]) => withoutOverlayParams(words, file.keyPath);
        if (file.keyPath.toLowerCase().startsWith(`${ISO_DIR}/`)) {
          // No settings: not a multi-ISO key (any more), so no menu names the overlay; damaged settings stop here.
          const settings = await this.multibootSettings(target).catch((error: unknown) => {
            if (error instanceof BootkeyError && error.code === 'NOT_FOUND') return undefined;
            throw error;
          });
          const iso = file.iso ?? Object.keys(settings?.isos ?? {}).find((n) => settings?.isos[n]?.extraParams?.includes(`:${file.keyPath}`));
          const current = iso === undefined ? undefined : settings?.isos[iso]?.extraParams;
          if (iso !== undefined && current !== undefined && this.deps.multiboot) bootEntries.push(...await this.editIsoParams(target, iso, edit, current));
        } else {
          bootEntries.push(...await this.editGrubCfgs(target, edit));
        }
      }
      for (const file of files) {
        await this.deps.files.remove(file.path);
        await this.updateManifest(target, (m) => withoutPersistenceFile(m, file.keyPath), false);
      }
      return { removed: files.map((f) => f.keyPath), bootEntries };
    });
  }

  private async confirmed(confirm: Confirm | undefined, description: string): Promise<void> {
    if (confirm && !(await confirm(description))) throw new BootkeyError('CANCELLED', `not confirmed: nothing was changed (${description})`);
  }

  private async resetFile(file: PersistenceFile): Promise<void> {
    if (file.usage?.type === 'overlayfs-ext4') {
      // A fresh filesystem of the same size beside the old one, then renamed over it: never half reset.
      const fresh = `${file.path}.bootkey-new`;
      await this.deps.files.remove(fresh);
      await this.deps.ext4.make(fresh, file.usage.capacityBytes,
        { label: file.usage.label, directories: file.role === 'home' ? [] : OVERLAYFS_DIRS });
      await this.deps.files.replace(fresh, file.path);
      return;
    }
    // The header chunk and area 0 must read as zero: 64 KiB covers both up to 32 KiB chunks.
    const chunkBytes = file.usage?.type === 'dm-snapshot' ? file.usage.chunkSectors * SECTOR_BYTES : 0;
    await this.deps.files.writeAt(file.path, 0, new Uint8Array(Math.max(RESET_BYTES, 2 * chunkBytes)));
  }

  /**
   * An overlay marked Invalid: the header saved beside it first, then the valid flag set (dm), or e2fsck -y
   * (ext4). A dm overlay's filesystem is then checked on a scratch copy in `workParent` (checkOverlay).
   */
  recover(spec: string, identity: LiveIdentity = {}, name?: string, confirm?: Confirm, workParent?: string): Promise<RecoverResult> {
    return this.withTarget(spec, async (target) => {
      const file = await this.pick(target, identity, name);
      if (!file.usage) throw new BootkeyError('MALFORMED_IMAGE', `${file.path}: ${file.problem}`);
      await this.notInUse(file.path);
      if (file.usage.type === 'dm-snapshot' && file.usage.valid) {
        throw new BootkeyError('INVALID_ARGUMENT', `${file.path} is not marked invalid; nothing to recover`);
      }
      await this.confirmed(confirm, file.usage.type === 'dm-snapshot'
        ? `recover ${file.keyPath}: it is marked valid again (its header saved first); what the live system wrote after it filled up is lost, and the filesystem in it may need repair`
        : `recover ${file.keyPath}: e2fsck -y repairs it; files it cannot repair are lost or moved to lost+found`);
      await target.recheck();
      const result = await this.recoverFile(file.path, file.usage);
      if (result.after.type !== 'dm-snapshot') return result;
      if (!workParent) return { ...result, overlayCheck: { notChecked: 'no work folder for a scratch copy of rootfs.img' } };
      // The recovery is done and saved: a check that cannot run is reported, it does not undo or hide the recovery.
      const overlayCheck = await this.checkOverlay(file, workParent).catch((error: unknown) => {
        if (error instanceof BootkeyError) return { notChecked: error.message };
        throw error;
      });
      return { ...result, overlayCheck };
    });
  }

  /**
   * e2fsck of the filesystem a dm overlay shows, on a scratch copy in `workParent`: rootfs.img extracted from the
   * squashfs.img beside the overlay, the overlay's exceptions copied on (the merge's first steps, whose result
   * equals what the kernel's snapshot shows). When the read-only check finds errors, e2fsck -y on the copy tells
   * whether they can be repaired. No root, and the key is not written.
   */
  private async checkOverlay(file: PersistenceFile, workParent: string): Promise<OverlayCheck | { notChecked: string }> {
    const { squashfs } = this.originOf(file);
    const { rootfsBytes } = await this.contentSizes(squashfs);
    const { copies } = await this.overlayCopies(file.path, rootfsBytes);
    const { freeBytes } = await this.deps.files.space(workParent);
    if (freeBytes < rootfsBytes) return { notChecked: `a scratch copy of rootfs.img needs ${rootfsBytes} free bytes in ${workParent} and there are ${freeBytes}` };
    const work = await this.deps.files.makeWorkDir(workParent);
    try {
      const tree = `${work}/tree`;
      const copy = `${tree}/${ROOTFS_IN_SQUASHFS}`;
      await this.deps.squashfs.extract(squashfs, ROOTFS_IN_SQUASHFS, tree);
      await this.deps.files.copyChunks(file.path, copy, copies);
      // e2fsck's status 8 (it could not open the filesystem: no superblock left) is an answer here, not a failure.
      const examine = (repair: boolean) => this.deps.ext4.check(copy, repair).catch((error: unknown) => {
        if (error instanceof BootkeyError && error.code === 'IO_ERROR') return { exitCode: 8, output: error.message };
        throw error;
      });
      const check = await examine(false);
      if (check.exitCode === 0) return { check, verdict: 'clean' };
      const repairTrial = await examine(true);
      return { check, repairTrial, verdict: repairTrial.exitCode <= 2 ? 'repairable' : 'beyond-repair' };
    } finally {
      await this.deps.files.removeTree(work);
    }
  }

  /** Recover one file (the target already checked): backup, then the change, then the file read again. */
  async recoverFile(path: string, before: OverlayUsage): Promise<RecoverResult> {
    if (before.type === 'dm-snapshot' && before.valid) {
      throw new BootkeyError('INVALID_ARGUMENT', `${path} is not marked invalid; nothing to recover`);
    }
    const stamp = this.deps.now().toISOString().replace(/[-:.]/g, '').slice(0, 15);
    const backup = headerBackupName(path, stamp);
    const source = await this.deps.files.open(path);
    let header: Uint8Array;
    try {
      // dm: the header chunk; ext4: the boot block and superblock.
      header = await source.read(0, before.type === 'dm-snapshot' ? before.chunkSectors * SECTOR_BYTES : 4096);
    } finally {
      await source.close();
    }
    await this.deps.files.writeNew(backup, header);
    let fsck: Ext4CheckResult | undefined;
    if (before.type === 'dm-snapshot') await this.deps.files.writeAt(path, VALID_FLAG_OFFSET, new Uint8Array([1, 0, 0, 0]));
    else fsck = await this.deps.ext4.check(path, true);
    // Reading it again walks the whole exception table: a damaged one is reported now, not at boot.
    const after = await this.usageOf(path);
    return { path, backup, before, after, ...(fsck ? { fsck } : {}) };
  }

  /**
   * Merges a dm overlay into a new squashfs.img: LiveOS/rootfs.img extracted into `workParent`, the overlay's
   * exceptions copied onto it, e2fsck -f -y, a new image beside the old one (the old one's compressed blocks
   * reused and only the changed blocks compressed, see squashfs-reuse.ts; or, for images of another shape, all
   * of it by mksquashfs with the old image's compressor and block size), verified (size, and the hash of the rootfs.img read back out of it), renamed over the old
   * one, then the overlay reset. Free space for every step is checked before the first write; until the
   * rename the old image is untouched. `signal` cancels it up to the rename (BootkeyError CANCELLED, the
   * temporaries removed); from the rename on it finishes. `onProgress` hears each step start (MERGE_PHASES order)
   * and the bytes applied.
   */
  merge(spec: string, workParent: string, identity: LiveIdentity = {}, name?: string,
    options: { signal?: AbortSignal; onProgress?: (progress: MergeProgress) => void } = {}): Promise<MergeResult> {
    const { signal } = options;
    const report = (phase: MergePhase, done = 0, total = 0) => options.onProgress?.({ phase, done, total });
    const stillWanted = () => {
      if (signal?.aborted) throw new BootkeyError('CANCELLED', 'merge cancelled: the old image and the overlay are unchanged');
    };
    return this.withTarget(spec, async (target) => {
      stillWanted();
      const timings: Record<string, number> = {};
      const clock = () => this.deps.now().getTime();
      let mark = clock();
      const lap = (step: string) => {
        const now = clock();
        timings[step] = now - mark;
        mark = now;
      };
      const file = await this.pick(target, identity, name);
      if (file.usage?.type !== 'dm-snapshot') {
        throw new BootkeyError('INVALID_ARGUMENT', `${file.path} is ${file.usage ? 'an OverlayFS overlay: its changes are files, not blocks of rootfs.img' : `unreadable: ${file.problem}`}`);
      }
      if (!file.usage.valid) throw new BootkeyError('MALFORMED_IMAGE', `${file.path} is marked Invalid: recover it (and check it) before merging`);
      const { dir, squashfs } = this.originOf(file);
      await this.notInUse(file.path);
      await this.notInUse(squashfs);
      const info = await this.withSource(squashfs, readSquashfsInfo);
      // The old image's layout and its compressor's options when its blocks can be reused, else why not.
      const reuse = await this.withSource(squashfs, async (source) => {
        const image = await readSingleFileImage(source, ROOTFS_IN_SQUASHFS.split('/'), this.deps.squashfs.decompressor(info.compression));
        return { image, compressorArgs: compressorArguments(image) };
      }).catch((error: unknown) => {
        if (error instanceof ParseError) return error.message;
        throw error;
      });
      // The reuse reader found rootfs.img's inode already, and only it is extracted; a whole rebuild extracts
      // every file, which unsquashfs lists.
      const { rootfsBytes, allBytes } = typeof reuse === 'string' ? await this.contentSizes(squashfs)
        : { rootfsBytes: reuse.image.file.size, allBytes: reuse.image.file.size };
      const { usage, exceptions, copies } = await this.overlayCopies(file.path, rootfsBytes);
      const space = planMergeSpace({ extractedBytes: allBytes, squashfsBytes: info.bytesUsed, changedBytes: exceptions * usage.chunkSectors * SECTOR_BYTES });
      const [workSpace, keySpace] = await Promise.all([this.deps.files.space(workParent), this.deps.files.space(dir)]);
      checkMergeSpace(space, workSpace, { ...keySpace, freeBytes: Math.min(keySpace.freeBytes, target.freeBytes) });
      lap('plan');

      await target.recheck();
      stillWanted();
      const work = await this.deps.files.makeWorkDir(workParent);
      const fresh = `${squashfs}.bootkey-new`;
      try {
        const tree = `${work}/tree`;
        const merged = `${tree}/${ROOTFS_IN_SQUASHFS}`;
        report('extract');
        // Reusing blocks needs rootfs.img alone; a whole rebuild needs every file the image holds, or they would be lost.
        await this.deps.squashfs.extract(squashfs, typeof reuse === 'string' ? undefined : ROOTFS_IN_SQUASHFS, tree, signal);
        lap('extract');
        const blockCrcs = typeof reuse === 'string' ? undefined
          : (await this.deps.files.digest(merged, { sha256: false, blockBytes: info.blockSize })).blockCrcs;
        lap('block-crcs');
        stillWanted();
        const applyBytes = copies.reduce((sum, c) => sum + c.length, 0);
        let writtenBytes = 0;
        let skippedBytes = 0;
        report('apply', 0, applyBytes);
        for (const batch of applyBatches(copies, Math.max(MIN_APPLY_BATCH_BYTES, Math.ceil(applyBytes / APPLY_BATCHES)))) {
          const done = await this.deps.files.copyChunks(file.path, merged, batch);
          writtenBytes += done.writtenBytes;
          skippedBytes += done.skippedBytes;
          report('apply', writtenBytes + skippedBytes, applyBytes);
          stillWanted();
        }
        lap('apply');
        stillWanted();
        report('fsck');
        const fsck = await this.deps.ext4.check(merged, true);
        if (fsck.exitCode > 1) {
          throw new BootkeyError('MALFORMED_IMAGE', `e2fsck left errors in the merged filesystem (status ${fsck.exitCode}); nothing on the key was changed:\n${fsck.output.slice(-500)}`);
        }
        lap('fsck');
        stillWanted();
        // Hashing alongside mksquashfs gained nothing on two cores (both are CPU-bound): one after the other.
        report('hash');
        const digests = await this.deps.files.digest(merged, { sha256: true, ...(blockCrcs ? { blockBytes: info.blockSize } : {}) });
        const rootfsSha256 = digests.sha256 as string;
        lap('hash');
        await this.deps.files.remove(fresh);
        stillWanted();
        report('mksquashfs');
        let rebuild: MergeResult['rebuild'];
        if (typeof reuse === 'string') {
          rebuild = { method: 'mksquashfs', why: reuse };
        } else {
          const changed = changedBlocks(copies, info.blockSize, blockCrcs as number[], digests.blockCrcs as number[]);
          const reused = await rebuildReusingBlocks(this.deps, { ...reuse, changed, merged, work, old: squashfs, fresh, modTime: Math.floor(this.deps.now().getTime() / 1000), signal });
          rebuild = typeof reused === 'string' ? { method: 'mksquashfs', why: reused } : { method: 'reused-blocks', reusedBlocks: reused, changedBlocks: changed.length };
        }
        if (rebuild.method === 'mksquashfs') await this.deps.squashfs.build(tree, fresh, { ...info, ...(signal ? { signal } : {}) });
        await this.deps.files.sync(fresh);
        lap('mksquashfs');
        stillWanted();
        // Verified from the new image itself: its rootfs.img extracted again (in place of the merged copy, so the
        // work folder never holds two) has the merged size and hash. (A listing for the size cost a third read of
        // the image's tables.)
        report('verify');
        await this.deps.files.removeTree(tree);
        const check = `${work}/check`;
        await this.deps.squashfs.extract(fresh, ROOTFS_IN_SQUASHFS, check, signal);
        const built = await this.deps.files.hash(`${check}/${ROOTFS_IN_SQUASHFS}`);
        if (built.bytes !== rootfsBytes || built.sha256 !== rootfsSha256) {
          throw new BootkeyError('IO_ERROR', `the new ${squashfs} does not hold the merged rootfs.img (size ${built.bytes}, expected ${rootfsBytes}; `
            + `hash ${built.sha256 === rootfsSha256 ? 'equal' : 'differs'}); the old image is kept`);
        }
        const newInfo = await this.withSource(fresh, readSquashfsInfo);
        lap('verify');
        // The last moment a cancel is honoured: from the rename on the overlay must be reset to match.
        stillWanted();
        report('swap');
        await this.deps.files.replace(fresh, squashfs);
        await this.resetFile(file);
        lap('swap-reset');
        return {
          overlay: file.path, squashfs, compression: info.compression, blockSize: info.blockSize, exceptions,
          copies: copies.length, writtenBytes, skippedBytes, fsck, rootfsBytes, rootfsSha256,
          oldSquashfsBytes: info.bytesUsed, newSquashfsBytes: newInfo.bytesUsed, rebuild, after: await this.usageOf(file.path), timings,
        };
      } finally {
        await this.deps.files.removeTree(work);
        await this.deps.files.remove(fresh);
      }
    });
  }

  /** The squashfs.img beside a dm overlay (INVALID_ARGUMENT for an overlay of a library ISO: its image is inside the ISO). */
  private originOf(file: PersistenceFile): { dir: string; squashfs: string } {
    if (file.iso !== undefined || file.keyPath.toLowerCase().startsWith(`${ISO_DIR}/`)) {
      throw new BootkeyError('INVALID_ARGUMENT', `${file.keyPath} belongs to an ISO file: its image is inside the ISO, which Bootkey does not rebuild`);
    }
    const dir = file.path.slice(0, file.path.lastIndexOf('/'));
    return { dir, squashfs: `${dir}/squashfs.img` };
  }

  /** The size of LiveOS/rootfs.img in `squashfs` (NOT_FOUND when it has none: its root tree has no dm origin) and of all its files. */
  private async contentSizes(squashfs: string): Promise<{ rootfsBytes: number; allBytes: number }> {
    const sizes = await this.deps.squashfs.fileSizes(squashfs);
    const rootfsBytes = sizes.get(ROOTFS_IN_SQUASHFS);
    if (rootfsBytes === undefined) throw new BootkeyError('NOT_FOUND', `${squashfs} holds no ${ROOTFS_IN_SQUASHFS}: only images with a rootfs.img have dm overlays`);
    return { rootfsBytes, allBytes: [...sizes.values()].reduce((sum, bytes) => sum + bytes, 0) };
  }

  /** A dm overlay's exception table as positioned copies onto a rootfs.img of `rootfsBytes` (what its snapshot shows). */
  private async overlayCopies(path: string, rootfsBytes: number): Promise<{ usage: DmSnapshotUsage; exceptions: number; copies: ChunkCopy[] }> {
    const exceptions: DmException[] = [];
    const usage = await this.withSource(path, (source) => readDmSnapshot(source, (e) => exceptions.push(e)));
    return { usage, exceptions: exceptions.length, copies: planMergeCopies(exceptions, usage.chunkSectors, rootfsBytes) };
  }

  private async withSource<T>(path: string, read: (source: ClosableByteSource) => Promise<T>): Promise<T> {
    const source = await this.deps.files.open(path);
    try {
      return await read(source);
    } finally {
      await source.close();
    }
  }
}
