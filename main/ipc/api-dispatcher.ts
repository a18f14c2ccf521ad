/**
 * The contract's methods bound to the services, independent of transport: Electron IPC (main/ipc/ipc-bridge.ts)
 * and the web test host (main/web) both hand it untrusted (method, args) pairs and get Result envelopes back.
 * Arguments are validated here, once, with the contract's validators; errors become envelopes with their code.
 */
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isMethodName,
  VALIDATE_ARGS,
  validationError,
  type ApiError,
  type ApiResult,
  type BootkeyEvents,
  type DetailValue,
  type DriveDto,
  type EventName,
  type CopyEfiPlanDto,
  type CopyEfiRequest,
  type FeatureId,
  type IsoLibraryDto,
  type JobProgressDto,
  type KeySummaryDto,
  type MethodArgs,
  type MethodName,
  type MethodValue,
} from '../../preload/contract.js';
import { isCancellation } from '../core/cancellation.js';
import { BootkeyError } from '../core/errors.js';
import { COPY_EFI_KIND, type KeyManifest } from '../core/key-manifest.js';
import { checkPassphrase } from '../core/persistence/encrypted-home.js';
import { progressRate } from '../core/progress-rate.js';
import type { DiskProvider } from '../ports/disk-provider.js';
import type { CopyEfiEvent, CopyEfiResult, CopyEfiService } from '../services/copy-efi.js';
import type { DriveService } from '../services/drives.js';
import type { ImageService } from '../services/images.js';
import type { MultibootService } from '../services/multiboot.js';
import { MERGE_PHASES, type MergePhase, type PersistenceService } from '../services/persistence.js';
import { driveDto } from './drive-dto.js';
import { liveInstallationDto, mergeDto, persistenceFileDto, recoverDto } from './persistence-dto.js';

/** The services behind the key actions; an action whose service is missing is shown as unavailable. */
export interface KeyServices {
  images?: ImageService;
  copyEfi?: CopyEfiService;
  multiboot?: MultibootService;
  persistence?: PersistenceService;
  /** What Bootkey recorded on a key (its /.bootkey manifest), for the key's summary. */
  manifests?: { read(target: string): Promise<KeyManifest> };
  /** Where a merge or a recovery's check extracts the live image's rootfs.img (a large temporary file); os.tmpdir() by default. */
  mergeWorkDir?: string;
}

export interface ApiServices extends KeyServices {
  version: string;
  host: 'electron' | 'web';
  /** For change events; everything else goes through the drives service. */
  disks: DiskProvider;
  drives: DriveService;
  /** Told when a long job starts and ends (the desktop app inhibits suspend and shows progress). */
  jobs?: JobObserver;
  /**
   * WEB TEST HOST ONLY (never set by the desktop app): the one folder whose files a page may name by file name
   * when it drops them, because a page cannot know a dropped file's path.
   */
  dropFolder?: string;
  /** Milliseconds, for progress rates; Date.now by default. */
  now?: () => number;
}

export type JobOutcome = 'done' | 'failed' | 'cancelled';

export interface JobObserver {
  /** A job began; the function it returns is called once, when that job ends (jobs may share a title). */
  started(title: string): (outcome: JobOutcome) => void;
  /** Share (0 to 1) of the current job's, or file's, bytes that are durable. */
  progress?(fraction: number): void;
}

type Handlers = { [M in MethodName]: (...args: MethodArgs<M>) => Promise<MethodValue<M>> };
export type EventListener = <E extends EventName>(event: E, payload: BootkeyEvents[E]) => void;

/** Filesystems copy-EFI and the multi-ISO key write to. */
const KEY_FILESYSTEMS = new Set(['vfat', 'exfat']);
/** Progress events at most this often (the last one of a file always goes). */
const PROGRESS_INTERVAL_MS = 100;

/** A copy-EFI's phases, as the job's progress names them. */
const COPY_EFI_PHASE_WORDS: Record<Extract<CopyEfiEvent, { event: 'progress' }>['phase'], string> = {
  copy: 'Copying UEFI boot files',
  verify: 'Checking the copied files (read back from the key)',
};

/** A merge's steps, as the job's progress names them. */
const MERGE_PHASE_WORDS: Record<MergePhase, string> = {
  extract: 'Copying rootfs.img out of squashfs.img',
  apply: 'Applying the overlay’s changed blocks',
  fsck: 'Checking the merged filesystem (e2fsck)',
  hash: 'Hashing the merged rootfs.img',
  mksquashfs: 'Building the new squashfs.img',
  verify: 'Verifying the new squashfs.img (read back, SHA-256)',
  swap: 'Putting the new squashfs.img in place and resetting the overlay',
};

export class ApiDispatcher {
  readonly #handlers: Handlers;
  readonly #listeners = new Set<EventListener>();
  /** Running cancellable jobs by the id the UI gave them. */
  readonly #running = new Map<string, AbortController>();

  constructor(private readonly services: ApiServices) {
    const features: Record<FeatureId, boolean> = {
      copyEfi: services.copyEfi !== undefined && services.images !== undefined,
      multiIso: services.multiboot !== undefined && services.images !== undefined,
      persistence: services.persistence !== undefined,
    };
    const need = <T>(service: T | undefined, what: string): T => {
      if (service === undefined) throw new BootkeyError('INVALID_ARGUMENT', `${what} is not part of this build`);
      return service;
    };
    const copyEfi = () => need(services.copyEfi, 'Copy-EFI');
    const multiboot = () => need(services.multiboot, 'The multi-ISO key');
    const persistence = () => need(services.persistence, 'Live system persistence');
    const library = async (target: string, verify = true): Promise<IsoLibraryDto> => {
      try {
        const isos = await multiboot().list(target, { verify });
        return { prepared: true, isos: isos.map(({ name, size, family, boot, verified, inMenu, title }) => ({ name, size, family, ...boot, verified, inMenu, title })) };
      } catch (error) {
        // the service's word for a key without its settings file (see MultibootService.settingsOf)
        if (error instanceof BootkeyError && error.code === 'NOT_FOUND' && /not a multi-ISO key yet/.test(error.message)) {
          return { prepared: false, isos: [] };
        }
        throw error;
      }
    };
    this.#handlers = {
      getAppInfo: async () => ({ version: services.version, host: services.host, features }),
      listDrives: () => this.#drives(),
      getDrive: async (id) => findDrive(await this.#drives(), id),
      eraseDrive: async ({ driveId, confirmed, label }) => {
        const chosen = findDrive(await this.#drives(), driveId); // DEVICE_GONE before anything else
        if (chosen.device !== confirmed.device) {
          throw new BootkeyError('TARGET_CHANGED', `${confirmed.device} is not the drive you chose`, { device: confirmed.device });
        }
        await this.#job(`Erasing ${chosen.vendor} ${chosen.model}`.trim(), () =>
          services.drives.prepareKey(confirmed, { table: 'dos', filesystem: 'vfat', label }));
        return findDrive(await this.#drives(), driveId);
      },
      inspectImage: async (path) => {
        const info = await need(services.images, 'Image inspection').inspect(path);
        const { format, label, size, family, boot, warnings } = info;
        return { path, name: path.slice(path.lastIndexOf('/') + 1), size, format, label, family, ...boot, warnings };
      },
      planCopyEfi: async (request) => planDto(request, await copyEfi().copy(
        { source: request.source, target: await this.#keyTarget(request.driveId), replace: request.replace, dryRun: true })),
      copyEfi: async (request) => {
        const target = await this.#keyTarget(request.driveId);
        const progress = this.#progress(request.jobId);
        const result = await this.#job(`Making ${request.source.slice(request.source.lastIndexOf('/') + 1)} bootable`, () =>
          this.#cancellable(request.jobId, (signal) => copyEfi().copy({ source: request.source, target, replace: request.replace, dryRun: false, signal }, (event) => {
            if (event.event === 'progress') progress(COPY_EFI_PHASE_WORDS[event.phase], event.path, event.bytesDone, event.bytesTotal);
          })));
        return { plan: planDto(request, result), operation: result.operation ?? '', verifiedFiles: result.plan.files.length, verifiedBytes: result.plan.bytes };
      },
      undoEfi: async (driveId) => {
        const { removed, restored, kept } = await copyEfi().undo(await this.#keyTarget(driveId));
        return { removed, restored, kept };
      },
      listIsos: async (driveId) => library(await this.#keyTarget(driveId)),
      prepareMultiIso: async (driveId, jobId) => {
        const target = await this.#keyTarget(driveId);
        const report = await this.#job('Preparing a multi-ISO key', () => (jobId === undefined ? multiboot().init(target)
          : this.#cancellable(jobId, (signal) => multiboot().init(target, { signal }))));
        return { bios: report.bios, uefi: report.uefi, warnings: report.warnings };
      },
      addIsos: async ({ driveId, files, jobId }) => {
        const target = await this.#keyTarget(driveId);
        const progress = this.#progress(jobId);
        await this.#job(`Adding ${files.length} ISO file(s)`, () => this.#cancellable(jobId, (signal) =>
          multiboot().add(target, files, (p) => progress(p.phase, p.phase.replace(/^(copying|verifying) /, ''), p.done, p.total), { signal })));
        return library(target);
      },
      removeIsos: async (driveId, names) => {
        const target = await this.#keyTarget(driveId);
        await multiboot().remove(target, names);
        return library(target);
      },
      setIsoMenu: async (driveId, changes) => {
        const target = await this.#keyTarget(driveId);
        await multiboot().menu(target, changes);
        return library(target);
      },
      droppedFilePaths: async (names) => {
        const folder = services.dropFolder;
        if (folder === undefined) throw new BootkeyError('INVALID_ARGUMENT', 'dropped files are named by path here, not by name');
        return Promise.all(names.map(async (name) => {
          const path = join(folder, name); // a validated file name: it stays inside the folder
          const kind = await stat(path).then((s) => (s.isFile() ? 'file' : 'other'), () => 'missing');
          if (kind !== 'file') {
            throw new BootkeyError('NOT_FOUND', `${name} is not in ${folder}, the one folder this test host reads dropped files from`, { name });
          }
          return path;
        }));
      },
      listPersistence: async (driveId) => (await persistence().list(await this.#keyTarget(driveId))).map(liveInstallationDto),
      persistenceStatus: async (driveId, file) => persistenceFileDto(await persistence().status(await this.#keyTarget(driveId), {}, file)),
      createPersistence: async ({ driveId, type, image, size, homeSize, homePassphrase: passphrase }) => {
        // The bytes typed at the boot prompt; encrypted-home's rules before the key is even opened.
        const homePassphrase = passphrase === undefined ? undefined : new TextEncoder().encode(passphrase);
        if (homePassphrase) checkPassphrase(homePassphrase);
        const target = await this.#keyTarget(driveId);
        const made = await this.#job('Creating live system persistence', () => persistence().create(target, {
          type, size, ...(image !== undefined ? { image } : {}), ...(homeSize !== undefined ? { homeSize } : {}), ...(homePassphrase ? { homePassphrase } : {}),
        }));
        return made.map(persistenceFileDto);
      },
      growPersistence: async (driveId, file, size) => {
        const target = await this.#keyTarget(driveId);
        return persistenceFileDto(await this.#job(`Growing ${file}`, () => persistence().grow(target, size, {}, file)));
      },
      // The user confirmed in the UI's dialog (the contract's promise), so the service asks nothing more.
      resetPersistence: async (driveId, file) => persistenceFileDto(await persistence().reset(await this.#keyTarget(driveId), {}, file)),
      recoverPersistence: async (driveId, file) => {
        const target = await this.#keyTarget(driveId);
        const result = await persistence().recover(target, {}, file, undefined, services.mergeWorkDir ?? tmpdir());
        return recoverDto(result, await persistence().status(target, {}, file));
      },
      deletePersistence: async (driveId, files) => {
        const { removed, bootEntries } = await persistence().delete(await this.#keyTarget(driveId), files);
        return { removed, bootEntries };
      },
      mergePersistence: async ({ driveId, file, jobId }) => {
        const target = await this.#keyTarget(driveId);
        const title = `Merging ${file.slice(file.lastIndexOf('/') + 1)} into squashfs.img`;
        const progress = this.#progress(jobId);
        const onProgress = (p: { phase: MergePhase; done: number; total: number }) =>
          progress(MERGE_PHASE_WORDS[p.phase], file, p.done, p.total, { index: MERGE_PHASES.indexOf(p.phase) + 1, count: MERGE_PHASES.length });
        const result = await this.#job(title, () => this.#cancellable(jobId, (signal) =>
          persistence().merge(target, services.mergeWorkDir ?? tmpdir(), {}, file, { signal, onProgress })));
        return mergeDto(result, await persistence().status(target, {}, file));
      },
      cancelJob: async (jobId) => {
        const job = this.#running.get(jobId);
        job?.abort();
        return job !== undefined;
      },
      keySummary: async (driveId) => {
        const target = await this.#keyTarget(driveId);
        const summary: KeySummaryDto = { operations: [], manifestProblem: null, isos: { prepared: false, isos: [] }, persistence: [] };
        if (services.manifests) {
          try {
            // other kinds (persistence files) are listed from the key itself below
            summary.operations = (await services.manifests.read(target)).operations.filter((op) => op.kind === COPY_EFI_KIND).map((op) => ({
              id: op.id, kind: op.kind, source: op.source, startedAt: op.startedAt, state: op.state,
              files: op.added.map(({ path, size }) => ({ path, size })),
              replaced: op.replaced.map(({ path, size }) => ({ path, size })),
            }));
          } catch (error) {
            summary.manifestProblem = toApiError(error).message;
          }
        }
        if (services.multiboot) summary.isos = await library(target, false); // re-hashing every ISO is the library view's job
        if (services.persistence) summary.persistence = (await services.persistence.list(target)).map(liveInstallationDto);
        return summary;
      },
    };
  }

  /** Where the key's files are: its mounted FAT/exFAT filesystem, else that partition (mounted by the service). */
  async #keyTarget(driveId: string): Promise<string> {
    const drive = findDrive(await this.#drives(), driveId);
    if (!drive.eligible) throw new BootkeyError('TARGET_REFUSED', `Bootkey will not write to ${drive.device}: ${drive.refusals.join('; ')}`, { device: drive.device });
    const fat = drive.partitions.filter((p) => p.fsType !== null && KEY_FILESYSTEMS.has(p.fsType));
    const chosen = fat.find((p) => p.mountPoint !== null) ?? fat[0];
    return chosen?.mountPoint ?? chosen?.device ?? drive.device;
  }

  /** Runs a job that `cancelJob(jobId)` can stop: the service sees the abort through the signal. */
  async #cancellable<T>(jobId: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#running.has(jobId)) throw new BootkeyError('INVALID_ARGUMENT', `a job with id ${jobId} is already running`);
    const controller = new AbortController();
    this.#running.set(jobId, controller);
    try {
      return await work(controller.signal);
    } finally {
      this.#running.delete(jobId);
    }
  }

  /** Tells the job observer when a long job starts and how it ended. */
  async #job<T>(title: string, work: () => Promise<T>): Promise<T> {
    const finished = this.services.jobs?.started(title);
    try {
      const value = await work();
      finished?.('done');
      return value;
    } catch (error) {
      finished?.(isCancellation(error) ? 'cancelled' : 'failed');
      throw error;
    }
  }

  /** A progress reporter for one job: throttled events with rate and time left (core's progressRate, per phase). */
  #progress(jobId: string): (phase: string, file: string, done: number, total: number, step?: JobProgressDto['step']) => void {
    const now = this.services.now ?? Date.now;
    const rateOf = progressRate();
    let last = -Infinity;
    let current: string | undefined;
    return (phase, file, bytesDone, bytesTotal, step) => {
      const at = now();
      if (phase !== current) {
        current = phase; // a new phase's first event always goes
        last = -Infinity;
      }
      if (at - last < PROGRESS_INTERVAL_MS && bytesDone < bytesTotal) return;
      last = at;
      const { rate, etaSeconds } = rateOf(phase, bytesDone, bytesTotal, at);
      const payload: JobProgressDto = { jobId, phase, file, bytesDone, bytesTotal, rate, etaSeconds, ...(step ? { step } : {}) };
      if (bytesTotal > 0) this.services.jobs?.progress?.(bytesDone / bytesTotal);
      for (const listener of this.#listeners) listener('jobProgress', payload);
    };
  }

  async #drives(): Promise<DriveDto[]> {
    return (await this.services.drives.list({ all: true })).map(driveDto);
  }

  /** Runs one call from an untrusted caller: unknown methods and bad arguments give INVALID_ARGUMENT. */
  async call(method: unknown, args: unknown): Promise<ApiResult<unknown>> {
    if (!isMethodName(method)) return validationError(`unknown method ${JSON.stringify(method)}`);
    if (!Array.isArray(args)) return validationError('arguments must be an array');
    const problem = VALIDATE_ARGS[method](args);
    if (problem !== undefined) return validationError(`${method}: ${problem}`);
    const handler = this.#handlers[method] as (...a: unknown[]) => Promise<unknown>;
    try {
      return { ok: true, value: await handler(...args) };
    } catch (error) {
      return { ok: false, error: toApiError(error) };
    }
  }

  /** Forwards service events to one front end; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    let previous = Promise.resolve(); // in order, even when one listing takes longer than the next
    this.#listeners.add(listener);
    const unsubscribe = this.services.disks.onChange(() => {
      previous = previous.then(async () => listener('drivesChanged', await this.#drives())).catch(() => undefined);
    });
    return () => {
      this.#listeners.delete(listener);
      unsubscribe();
    };
  }
}

function planDto(request: CopyEfiRequest, result: CopyEfiResult): CopyEfiPlanDto {
  const { plan, selection, target } = result;
  return {
    source: request.source,
    targetRoot: target.root,
    targetFsType: target.fsType,
    loaderSource: selection.loaderSource,
    files: plan.files.map((f) => ({ path: f.to, size: f.size, action: f.action })),
    bytes: plan.bytes,
    requiredBytes: plan.requiredBytes,
    freeBytes: plan.freeBytes,
    conflicts: plan.conflicts,
    problems: plan.problems.map((p) => ({ code: p.code, message: p.message })),
    warnings: selection.warnings,
  };
}

function findDrive(drives: DriveDto[], id: string): DriveDto {
  const drive = drives.find((d) => d.id === id);
  if (!drive) throw new BootkeyError('DEVICE_GONE', 'That drive is no longer connected.', { id });
  return drive;
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof BootkeyError) {
    const details = Object.fromEntries(
      Object.entries(error.details ?? {}).filter((entry): entry is [string, DetailValue] => isDetailValue(entry[1])),
    );
    return { code: error.code, message: error.message, ...(Object.keys(details).length ? { details } : {}) };
  }
  const text = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL', message: `Bootkey hit an internal error: ${text}` };
}

function isDetailValue(value: unknown): value is DetailValue {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}
