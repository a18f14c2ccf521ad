import { planCopy, type CopyPlan } from '../core/copy-efi/copy-plan.js';
import { grubLoaderUnableToReadKey, selectEfiFiles, withOwnGrubLoader, type EfiSelection } from '../core/copy-efi/efi-files.js';
import { isCancellation, throwIfCancelled } from '../core/cancellation.js';
import { BootkeyError } from '../core/errors.js';
import type { FileSystemTree } from '../core/filesystem-tree.js';
import { inParallel } from '../core/in-parallel.js';
import { inspectImage } from '../core/inspect/inspect-image.js';
import { openImage, selectTree, type TreeSelector } from '../core/inspect/open-image.js';
import {
  backupPathOf, COPY_EFI_KIND, filesAddedByBootkey, JOURNAL_PATH, keyPathKey, MANIFEST_DIR, MANIFEST_PATH, planUndo, serializeManifest,
  TEMPORARY_SUFFIX, temporaryPathOf, withOperation, type KeyManifest, type ManifestOperation,
} from '../core/key-manifest.js';
import { ChunkPool, treeFileChunks } from '../core/tree-file-chunks.js';
import type { DurableWriteResult, DurableWriter } from '../ports/durable-writer.js';
import type { GrubBuilder } from '../ports/grub-builder.js';
import type { ImageFiles } from '../ports/image-files.js';
import type { KeyFiles } from '../ports/key-files.js';
import { readKeyManifest } from './key-manifest-reader.js';
import type { KeyTarget, KeyTargetOptions } from './key-target.js';

/**
 * Files of at most one chunk added at once: a small file is mostly waits (create, stat, read, close), which
 * overlap; a larger file is added alone, so that its clusters on a FAT key are not interleaved with another's.
 */
const SMALL_FILES_IN_FLIGHT = 4;
/** Names looked up on the key at once while planning. */
const LOOKUPS_IN_FLIGHT = 8;

export interface CopyEfiDeps {
  images: ImageFiles;
  files: KeyFiles;
  writer: DurableWriter;
  /** Builds Bootkey's own GRUB when the image's cannot read the key (grub-mkrescue ISOs). */
  grub: GrubBuilder;
  openTarget: (spec: string, options: KeyTargetOptions) => Promise<KeyTarget>;
  newId: () => string;
  now: () => Date;
}

export interface CopyEfiRequest {
  source: string;
  target: string;
  replace: boolean;
  dryRun: boolean;
  /**
   * Cancels the copy: it stops within one chunk, removes what it wrote and puts the manifest back, so the key
   * is as before the copy (a cancel that comes after every file is verified is too late: the copy completes).
   */
  signal?: AbortSignal;
}

export type CopyEfiEvent =
  | { event: 'plan'; plan: CopyPlan; selection: EfiSelection; target: TargetSummary }
  /** `bytesDone` counts only bytes flushed to the key. */
  /** 'copy': bytes durable on the key; 'verify', once all are: bytes read back from the key and checked. */
  | { event: 'progress'; phase: 'copy' | 'verify'; bytesDone: number; bytesTotal: number; path: string };

export interface TargetSummary {
  root: string;
  device: string | null;
  fsType: string;
  uuid: string | null;
  freeBytes: number;
}

export interface CopyEfiResult {
  plan: CopyPlan;
  selection: EfiSelection;
  target: TargetSummary;
  written: boolean;
  operation?: string;
}

export interface UndoResult {
  removed: string[];
  restored: string[];
  /** Files Bootkey added that changed since: left in place. */
  kept: string[];
  operations: number;
}

function summary(target: KeyTarget): TargetSummary {
  return { root: target.root, device: target.device, fsType: target.fsType, uuid: target.uuid, freeBytes: target.freeBytes };
}

function parentsOf(path: string): string[] {
  const names = path.split('/').filter(Boolean);
  return names.slice(0, -1).map((_, i) => `/${names.slice(0, i + 1).join('/')}`);
}

/**
 * Copies what makes an image boot under UEFI onto a key that keeps its files: plan, then (unless a dry run)
 * record the operation in the key's manifest, write every file durably, and mark the operation complete.
 * `undo` takes back everything Bootkey added and restores what it replaced.
 */
export class CopyEfiService {
  constructor(private readonly deps: CopyEfiDeps) {}

  async copy(request: CopyEfiRequest, onEvent: (event: CopyEfiEvent) => void = () => undefined): Promise<CopyEfiResult> {
    const { deps } = this;
    const source = await deps.images.open(request.source);
    try {
      const image = await openImage(source);
      const inspection = await inspectImage(source);
      // An image without UEFI boot is refused before the key is even opened (nothing mounted, nothing written).
      await selectEfiFiles(inspection, (part) => selectTree(image, part), null);
      const sourceDevice = await deps.files.deviceNumber(request.source);
      const target = await deps.openTarget(request.target, { sourceDeviceNumbers: [sourceDevice] });
      let failed = false;
      try {
        const parts = new Map<string, Promise<FileSystemTree>>();
        const openPart = (part: TreeSelector) => {
          const key = JSON.stringify(part);
          if (!parts.has(key)) parts.set(key, selectTree(image, part));
          return parts.get(key) as Promise<FileSystemTree>;
        };
        let selection = await selectEfiFiles(inspection, openPart, target.uuid);
        const unreadable = await grubLoaderUnableToReadKey(selection, openPart, target.fsType);
        if (unreadable) selection = withOwnGrubLoader(selection, unreadable, await deps.grub.buildEfiImage(await deps.grub.tools(false)));
        const manifest = await readKeyManifest(this.deps.files, target.root);
        const existing = new Map<string, number>();
        // What is already on the key, a few names at a time: they are mostly waits on the filesystem.
        await inParallel(selection.files, LOOKUPS_IN_FLIGHT, async (file) => {
          const size = await deps.files.size(target.root + file.to);
          if (size !== undefined) existing.set(keyPathKey(file.to), size);
        });
        const plan = planCopy(selection.files, {
          fsType: target.fsType, freeBytes: target.freeBytes, clusterBytes: await deps.files.allocationUnit(target.root),
          existing, addedByBootkey: filesAddedByBootkey(manifest), replace: request.replace,
        });
        onEvent({ event: 'plan', plan, selection, target: summary(target) });
        if (request.dryRun) return { plan, selection, target: summary(target), written: false };
        const problem = plan.problems[0];
        if (problem) throw new BootkeyError(problem.code, problem.message, { problems: plan.problems });
        const operation = await this.execute(plan, request, target, manifest, openPart, onEvent).catch(async (error: unknown) => {
          failed = true;
          throw await this.explain(error, target, request.target);
        });
        return { plan, selection, target: summary(target), written: true, operation };
      } finally {
        // After a pulled key, unmounting and detaching may fail too: the copy's own error is what counts.
        await target.release().catch((error: unknown) => {
          if (!failed) throw error;
        });
      }
    } finally {
      await source.close();
    }
  }

  async undo(targetSpec: string): Promise<UndoResult> {
    const { files } = this.deps;
    const target = await this.deps.openTarget(targetSpec, {});
    try {
      const manifest = await readKeyManifest(this.deps.files, target.root);
      // Only copy-EFI's own operations: persistence files recorded beside them are the user's live data.
      const ours = manifest.operations.filter((op) => op.kind === COPY_EFI_KIND);
      const others = manifest.operations.filter((op) => op.kind !== COPY_EFI_KIND);
      if (ours.length === 0) {
        throw new BootkeyError('NOT_FOUND', `no copied EFI boot files are recorded on ${targetSpec}: there is nothing to undo`, { path: MANIFEST_PATH });
      }
      await target.recheck();
      const result: UndoResult = { removed: [], restored: [], kept: [], operations: ours.length };
      for (const step of planUndo({ ...manifest, operations: ours })) {
        const at = target.root + step.path;
        if (step.kind === 'remove-temporary') await files.removeFile(at);
        else if (step.kind === 'remove-directory') await files.removeEmptyDirectory(at);
        else if (step.kind === 'restore') {
          if ((await files.size(target.root + step.backup)) === undefined) continue;
          await files.removeFile(at);
          await files.rename(target.root + step.backup, at);
          result.restored.push(step.path);
        } else if ((await files.size(at)) !== undefined) {
          if (step.sha256 !== null && (await files.sha256(at)) !== step.sha256) result.kept.push(step.path);
          else {
            await files.removeFile(at);
            result.removed.push(step.path);
          }
        }
      }
      if (others.length > 0) await this.writeManifest(target, { ...manifest, operations: others });
      else await files.removeFile(target.root + MANIFEST_PATH);
      await files.removeFile(target.root + JOURNAL_PATH);
      // Bootkey's own temporaries (of the manifest and journal) by their name.
      for (const name of await files.names(target.root + MANIFEST_DIR).catch(() => [])) {
        if (name.endsWith(TEMPORARY_SUFFIX)) await files.removeFile(`${target.root}${MANIFEST_DIR}/${name}`);
      }
      await files.removeEmptyDirectory(target.root + MANIFEST_DIR);
      return result;
    } finally {
      await target.release();
    }
  }

  private async writeManifest(target: KeyTarget, manifest: KeyManifest, path = MANIFEST_PATH): Promise<void> {
    await this.deps.files.makeDirectory(target.root + MANIFEST_DIR);
    await this.deps.writer.replaceAtomically(target.root + path, serializeManifest(manifest));
  }

  /**
   * The journal and the manifest first (so an interrupted copy can be undone), then every file as one durable
   * batch (flushed, then read back and checked under temporary names; the user's files moved aside and ours renamed
   * into place only when all are verified), then the manifest once more, and the journal goes: at every moment
   * one of the two is whole on the key.
   */
  private async execute(plan: CopyPlan, request: CopyEfiRequest, target: KeyTarget, manifest: KeyManifest,
    openPart: (part: TreeSelector) => Promise<FileSystemTree>, onEvent: (event: CopyEfiEvent) => void): Promise<string> {
    const { files, writer } = this.deps;
    throwIfCancelled(request.signal, 'cancelled before anything was written');
    const id = this.deps.newId();
    // The user's file under the name it has on the key (FAT matches names without case; undo must give it back as it was).
    const backups = new Map<string, { path: string; backup: string }>();
    for (const file of plan.files.filter((f) => f.action === 'replace-user')) {
      const dir = file.to.slice(0, file.to.lastIndexOf('/'));
      const base = file.to.slice(dir.length + 1).toLowerCase();
      const name = (await files.names(target.root + (dir || '/'))).find((n) => n.toLowerCase() === base) ?? file.to.slice(dir.length + 1);
      const path = `${dir}/${name}`;
      backups.set(file.to, { path, backup: backupPathOf(id, path) });
    }
    const wanted = new Set<string>();
    for (const file of plan.files) for (const dir of parentsOf(file.to)) wanted.add(dir);
    for (const { backup } of backups.values()) for (const dir of parentsOf(backup)) if (dir !== MANIFEST_DIR) wanted.add(dir);
    const createdDirectories: string[] = [];
    for (const dir of [...wanted].sort((a, b) => a.split('/').length - b.split('/').length)) {
      if ((await files.kind(target.root + dir)) === 'missing') createdDirectories.push(dir);
    }
    let operation: ManifestOperation = {
      id, kind: COPY_EFI_KIND, source: request.source, startedAt: this.deps.now().toISOString(), state: 'writing',
      added: plan.files.map((f) => ({ path: f.to, size: f.size, sha256: null })),
      replaced: [...backups].map(([to, { path, backup }]) => ({ path, backup, size: plan.conflicts.find((c) => c.path === to)?.size ?? 0 })),
      createdDirectories,
      temporaries: plan.files.map((f) => temporaryPathOf(f.to)),
    };
    await target.recheck();
    const before = { manifest, directory: await files.kind(target.root + MANIFEST_DIR) };
    manifest = withOperation(manifest, operation);
    await this.writeManifest(target, manifest, JOURNAL_PATH);
    await this.writeManifest(target, manifest);
    const batch = writer.batch({ signal: request.signal });
    let results: DurableWriteResult[];
    try {
      for (const dir of createdDirectories) await files.makeDirectory(target.root + dir);
      let done = 0;
      let verified = 0;
      const pool = new ChunkPool();
      const add = (file: CopyPlan['files'][number]) => {
        const data = file.content ? single(file.content) : partFileChunks(openPart, file.part, file.from, pool);
        let durable = 0;
        let checked = 0;
        return batch.add(target.root + file.to, data, {
          size: file.size, tempPath: target.root + temporaryPathOf(file.to), replace: file.action !== 'add',
          release: (chunk) => pool.give(chunk),
          onDurable: (bytes) => {
            done += bytes - durable;
            durable = bytes;
            onEvent({ event: 'progress', phase: 'copy', bytesDone: done, bytesTotal: plan.bytes, path: file.to });
          },
          onVerified: (bytes) => {
            verified += bytes - checked;
            checked = bytes;
            onEvent({ event: 'progress', phase: 'verify', bytesDone: verified, bytesTotal: plan.bytes, path: file.to });
          },
        });
      };
      // Files of one chunk go a few at a time (see SMALL_FILES_IN_FLIGHT); batch.add is called in plan order
      // (inParallel starts them in order), so the results stay in plan order.
      let small: CopyPlan['files'] = [];
      for (const file of plan.files) {
        if (file.size <= pool.chunkSize) {
          small.push(file);
          continue;
        }
        await inParallel(small, SMALL_FILES_IN_FLIGHT, add);
        small = [];
        await add(file);
      }
      await inParallel(small, SMALL_FILES_IN_FLIGHT, add);
      results = await batch.commit(async () => {
        for (const { path, backup } of backups.values()) await files.rename(target.root + path, target.root + backup);
      });
    } catch (error) {
      await batch.discard();
      if (!isCancellation(error)) throw error;
      await this.rollBack(target, before, createdDirectories);
      throw new BootkeyError('CANCELLED', 'copy cancelled: the files it had written were removed and the key is as it was before', { operation: id });
    }
    const added = plan.files.map((f, i) => ({ path: f.to, size: f.size, sha256: (results[i] as DurableWriteResult).sha256 }));
    operation = { ...operation, state: 'complete', added, temporaries: [] };
    await this.writeManifest(target, withOperation(manifest, operation));
    await files.removeFile(target.root + JOURNAL_PATH);
    return id;
  }

  /** After a cancel (nothing renamed into place): the manifest as it was, then the journal and our new folders go. */
  private async rollBack(target: KeyTarget, before: { manifest: KeyManifest; directory: string }, createdDirectories: string[]): Promise<void> {
    const { files } = this.deps;
    if (before.manifest.operations.length > 0) await this.writeManifest(target, before.manifest);
    else await files.removeFile(target.root + MANIFEST_PATH);
    await files.removeFile(target.root + JOURNAL_PATH);
    for (const dir of [...createdDirectories].reverse()) await files.removeEmptyDirectory(target.root + dir);
    if (before.directory === 'missing') await files.removeEmptyDirectory(target.root + MANIFEST_DIR);
  }

  /** An I/O error on a key that is no longer there is a pulled key: say so, and how to clean up. */
  private async explain(error: unknown, target: KeyTarget, spec: string): Promise<unknown> {
    const present = await target.present().catch(() => false);
    if (present) return error;
    const why = error instanceof Error ? error.message : String(error);
    return new BootkeyError('DEVICE_GONE', `the key ${target.device ?? spec} was removed during the copy (${why}); `
      + `your own files are unchanged (or kept in ${MANIFEST_DIR}/backup) — plug it in again and run 'bootkey undo-efi --from DEVICE' to remove the partial copy`,
    { device: target.device });
  }
}

async function* single(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** A file of an image part, the part opened when the first chunk is asked for. */
async function* partFileChunks(openPart: (part: TreeSelector) => Promise<FileSystemTree>, part: TreeSelector, path: string,
  pool: ChunkPool): AsyncGenerator<Uint8Array> {
  yield* treeFileChunks(await openPart(part), path, pool);
}
