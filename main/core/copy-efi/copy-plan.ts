import { FAT32_MAX_FILE } from '../inspect/inspect-image.js';
import { keyPathKey, MANIFEST_DIR } from '../key-manifest.js';
import type { EfiFile } from './efi-files.js';

/** What is on the target now, as far as the plan needs it. */
export interface TargetState {
  fsType: string;
  freeBytes: number;
  /** Allocation unit (statfs block size, the cluster size on FAT): every file uses whole clusters. */
  clusterBytes: number;
  /** Key paths (case-folded with keyPathKey) of files that exist, with their sizes. */
  existing: ReadonlyMap<string, number>;
  /** Key paths (case-folded) of files an earlier Bootkey operation added: overwritten without asking. */
  addedByBootkey: ReadonlySet<string>;
  /** The user said --replace: their conflicting files are moved to a backup instead of refusing. */
  replace: boolean;
}

export type PlannedAction = 'add' | 'overwrite-own' | 'replace-user';

export interface PlannedCopy extends EfiFile {
  action: PlannedAction;
}

export interface PlanProblem {
  code: 'CONFLICT' | 'NOT_ENOUGH_SPACE' | 'FILE_TOO_LARGE' | 'INVALID_ARGUMENT';
  message: string;
  paths?: string[];
}

export interface CopyPlan {
  files: PlannedCopy[];
  /** Bytes of file data to write. */
  bytes: number;
  /** Bytes the filesystem must have free: data rounded to clusters, the manifest, and the temporary copies. */
  requiredBytes: number;
  freeBytes: number;
  /** Existing files of the user's the copy would overwrite (all of them become backups with --replace). */
  conflicts: { path: string; size: number }[];
  /** Why the plan cannot be carried out; empty when it can. */
  problems: PlanProblem[];
}

/** Room kept for the manifest and directory entries. */
const BOOKKEEPING_BYTES = 1024 * 1024;

function roundUp(bytes: number, unit: number): number {
  return Math.ceil(bytes / unit) * unit;
}

/**
 * Checks a selection of files against the target: the user's files are never overwritten without --replace
 * (and then kept as backups), free space covers everything with cluster rounding (a replaced file keeps its
 * space as a backup; an overwritten file of ours is written beside the old one first), and FAT32 holds no file
 * of 4 GiB or more.
 */
export function planCopy(files: readonly EfiFile[], target: TargetState): CopyPlan {
  const cluster = Math.max(512, target.clusterBytes);
  const planned: PlannedCopy[] = [];
  const conflicts: { path: string; size: number }[] = [];
  const problems: PlanProblem[] = [];
  for (const file of files) {
    const key = keyPathKey(file.to);
    if (key === MANIFEST_DIR || key.startsWith(`${MANIFEST_DIR}/`)) {
      problems.push({ code: 'INVALID_ARGUMENT', message: `the image has a file in Bootkey's own folder: ${file.to}`, paths: [file.to] });
      continue;
    }
    const existing = target.existing.get(key);
    let action: PlannedAction = 'add';
    if (existing !== undefined) {
      if (target.addedByBootkey.has(key)) action = 'overwrite-own';
      else {
        conflicts.push({ path: file.to, size: existing });
        action = 'replace-user';
      }
    }
    planned.push({ ...file, action });
  }
  if (conflicts.length > 0 && !target.replace) {
    problems.push({ code: 'CONFLICT', message: `${conflicts.length} file(s) on the key would be overwritten: ${conflicts.slice(0, 5).map((c) => c.path).join(', ')}${conflicts.length > 5 ? ' …' : ''}`,
      paths: conflicts.map((c) => c.path) });
  }
  if (target.fsType === 'vfat') {
    const large = planned.filter((f) => f.size > FAT32_MAX_FILE);
    if (large.length > 0) {
      problems.push({ code: 'FILE_TOO_LARGE', message: `FAT32 cannot hold files of 4 GiB or more: ${large.map((f) => f.from).join(', ')}`, paths: large.map((f) => f.from) });
    }
  }
  const bytes = planned.reduce((sum, f) => sum + f.size, 0);
  const requiredBytes = planned.reduce((sum, f) => sum + roundUp(Math.max(1, f.size), cluster), 0) + BOOKKEEPING_BYTES;
  if (requiredBytes > target.freeBytes) {
    problems.push({ code: 'NOT_ENOUGH_SPACE', message: `the copy needs ${requiredBytes} bytes; the key has ${target.freeBytes} free` });
  }
  return { files: planned, bytes, requiredBytes, freeBytes: target.freeBytes, conflicts, problems };
}
