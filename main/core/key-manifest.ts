import { BootkeyError } from './errors.js';
import { normalizePath } from './filesystem-tree.js';

/**
 * `/.bootkey/manifest.json` on a key: what Bootkey added and what it replaced (and where the user's file is
 * kept), operation by operation, so an undo removes exactly that. An operation is recorded BEFORE its first
 * byte is written (state `writing`, every file it may create listed), so an interrupted copy — a pulled key —
 * can still be undone; it becomes `complete` when everything is durable and verified.
 * Paths are key paths: '/'-separated from the key's root. FAT compares names without case, so do we.
 */
export const MANIFEST_DIR = '/.bootkey';
export const MANIFEST_PATH = '/.bootkey/manifest.json';
export const BACKUP_DIR = '/.bootkey/backup';
/**
 * A second copy of the manifest as it stood before the running operation's first byte, removed once the
 * manifest says `complete`: a key pulled while the manifest is replaced still has one of the two whole.
 */
export const JOURNAL_PATH = '/.bootkey/journal.json';
const MANIFEST_VERSION = 1;

export interface ManifestFile {
  path: string;
  size: number;
  /** Hex SHA-256 once verified; null while the operation is `writing`. */
  sha256: string | null;
}

export interface ReplacedFile {
  path: string;
  /** Where the user's file is kept until undo puts it back. */
  backup: string;
  size: number;
}

export interface ManifestOperation {
  id: string;
  /** `copy-efi`, `multiboot` … */
  kind: string;
  /** What was copied from, in words (a file name). */
  source: string;
  startedAt: string;
  state: 'writing' | 'complete';
  added: ManifestFile[];
  replaced: ReplacedFile[];
  /** Directories this operation created (backup folders too, not MANIFEST_DIR itself), parents first. */
  createdDirectories: string[];
  /** Temporary names its writes use, so leftovers of an interrupted write can be removed. */
  temporaries: string[];
}

export interface KeyManifest {
  version: number;
  operations: ManifestOperation[];
}

export function emptyManifest(): KeyManifest {
  return { version: MANIFEST_VERSION, operations: [] };
}

/** Ends every temporary name Bootkey writes under: undo recognises leftovers by it. */
export const TEMPORARY_SUFFIX = '.bootkey-tmp';

/** The temporary name a durable write of `path` uses: hidden, beside it, findable by undo. */
export function temporaryPathOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}${TEMPORARY_SUFFIX}`;
}

/** Case-insensitive key path, as FAT compares names. */
export function keyPathKey(path: string): string {
  return normalizePath(path).toLowerCase();
}

function damaged(why: string): BootkeyError {
  return new BootkeyError('MALFORMED_IMAGE', `the key's ${MANIFEST_PATH} is damaged: ${why}`, { path: MANIFEST_PATH });
}

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;
const isString = (v: unknown): v is string => typeof v === 'string';
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parses and checks a manifest read from a key; anything unexpected is a typed error, never a crash. */
export function parseManifest(text: string): KeyManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged('not JSON');
  }
  const manifest = raw as Partial<KeyManifest>;
  if (typeof raw !== 'object' || raw === null || manifest.version !== MANIFEST_VERSION || !Array.isArray(manifest.operations)) {
    throw damaged(`expected version ${MANIFEST_VERSION} with a list of operations`);
  }
  for (const op of manifest.operations as Partial<ManifestOperation>[]) {
    // null is JSON too: reading a member of it would be a TypeError.
    if (!isObject(op)) throw damaged(`an operation is ${op === null ? 'null' : typeof op}, not an object`);
    const ok = isString(op.id) && isString(op.kind) && isString(op.source) && isString(op.startedAt)
      && (op.state === 'writing' || op.state === 'complete')
      && Array.isArray(op.added) && op.added.every((f) => isObject(f) && isString(f.path) && isSize(f.size) && (f.sha256 === null || isString(f.sha256)))
      && Array.isArray(op.replaced) && op.replaced.every((f) => isObject(f) && isString(f.path) && isString(f.backup) && isSize(f.size))
      && isStringArray(op.createdDirectories) && isStringArray(op.temporaries);
    if (!ok) throw damaged(`operation ${JSON.stringify(op.id ?? '?')} is incomplete`);
    for (const path of [...op.added!.map((f) => f.path), ...op.replaced!.flatMap((f) => [f.path, f.backup]),
      ...op.createdDirectories!, ...op.temporaries!]) {
      // A NUL would reach the filesystem calls of undo, which throw a TypeError for it.
      if (!path.startsWith('/') || path.split('/').includes('..') || path.includes('\0')) throw damaged(`unsafe path ${JSON.stringify(path)}`);
    }
  }
  return manifest as KeyManifest;
}

export function serializeManifest(manifest: KeyManifest): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * What survived on a key: the manifest, else the journal; with both, the journal adds the operation the
 * manifest does not have yet. Undefined stands for a file that is missing, an error for one that could not be
 * read (too large: damage too); damage in both is an error.
 */
export function survivingManifest(manifest: string | BootkeyError | undefined, journal: string | BootkeyError | undefined): KeyManifest {
  const read = (text: string | BootkeyError | undefined) => {
    if (text === undefined) return { manifest: undefined, error: undefined };
    if (text instanceof BootkeyError) return { manifest: undefined, error: text };
    try {
      return { manifest: parseManifest(text), error: undefined };
    } catch (error) {
      return { manifest: undefined, error };
    }
  };
  const main = read(manifest);
  const copy = read(journal);
  if (main.manifest && copy.manifest) {
    const known = new Set(main.manifest.operations.map((op) => op.id));
    return { ...main.manifest, operations: [...main.manifest.operations, ...copy.manifest.operations.filter((op) => !known.has(op.id))] };
  }
  const survivor = main.manifest ?? copy.manifest;
  if (survivor) return survivor;
  if (main.error !== undefined) throw main.error;
  if (copy.error !== undefined) throw copy.error;
  return emptyManifest();
}

/** Key paths (case-folded) of every file some operation added: files Bootkey may overwrite without asking. */
export function filesAddedByBootkey(manifest: KeyManifest): Set<string> {
  return new Set(manifest.operations.flatMap((op) => op.added.map((f) => keyPathKey(f.path))));
}

/** The manifest with `operation` added, or put in place of the one with the same id. */
export function withOperation(manifest: KeyManifest, operation: ManifestOperation): KeyManifest {
  const others = manifest.operations.filter((op) => op.id !== operation.id);
  const index = manifest.operations.findIndex((op) => op.id === operation.id);
  const operations = index < 0 ? [...others, operation] : manifest.operations.map((op) => (op.id === operation.id ? operation : op));
  return { ...manifest, operations };
}

/** One step of an undo, in the order given. */
export type UndoStep =
  /** Remove a file Bootkey added; when `sha256` is known and the file differs, the user changed it: keep it. */
  | { kind: 'remove-file'; path: string; sha256: string | null }
  /** Remove what is at `path` (Bootkey's file) and move the user's file back from `backup`. */
  | { kind: 'restore'; path: string; backup: string }
  /** A leftover temporary file of an interrupted write. */
  | { kind: 'remove-temporary'; path: string }
  /** Remove a directory Bootkey created, only when it is empty. */
  | { kind: 'remove-directory'; path: string };

/**
 * Undoes every operation, newest first: leftovers of interrupted writes go, Bootkey's files go, the user's
 * files come back from their backups, then the directories Bootkey made (deepest first, each only when empty).
 * The caller removes the manifest and its folder last.
 */
export function planUndo(manifest: KeyManifest): UndoStep[] {
  const steps: UndoStep[] = [];
  for (const op of [...manifest.operations].reverse()) {
    for (const path of op.temporaries) steps.push({ kind: 'remove-temporary', path });
    const replaced = new Set(op.replaced.map((r) => keyPathKey(r.path)));
    for (const file of op.added) {
      if (!replaced.has(keyPathKey(file.path))) steps.push({ kind: 'remove-file', path: file.path, sha256: file.sha256 });
    }
    for (const r of op.replaced) steps.push({ kind: 'restore', path: r.path, backup: r.backup });
  }
  const directories = new Set<string>();
  for (const op of manifest.operations) for (const dir of op.createdDirectories) directories.add(dir);
  const deepestFirst = [...directories].sort((a, b) => depth(b) - depth(a) || b.localeCompare(a));
  for (const path of deepestFirst) steps.push({ kind: 'remove-directory', path });
  return steps;
}

function depth(path: string): number {
  return path.split('/').length;
}

/** Where an operation keeps the user's file it replaces. */
export function backupPathOf(operationId: string, path: string): string {
  return `${BACKUP_DIR}/${operationId}${normalizePath(path)}`;
}

/** The kind of operation `bootkey copy-efi` records; `undo-efi` takes back these and no others. */
export const COPY_EFI_KIND = 'copy-efi';

/** The kind of operation `bootkey persist create` records: the overlays and home.img it made on the key. */
export const PERSISTENCE_KIND = 'persistence';

/** Persistence files Bootkey created and that are still recorded (the "what Bootkey put on this key" summary). */
export function persistenceFiles(manifest: KeyManifest): ManifestFile[] {
  return manifest.operations.filter((op) => op.kind === PERSISTENCE_KIND).flatMap((op) => op.added);
}

/** The manifest without the persistence file at `path`; a persistence operation left with no file goes too. */
export function withoutPersistenceFile(manifest: KeyManifest, path: string): KeyManifest {
  const gone = keyPathKey(path);
  const operations = manifest.operations.flatMap((op) => {
    if (op.kind !== PERSISTENCE_KIND) return [op];
    const added = op.added.filter((f) => keyPathKey(f.path) !== gone);
    return added.length ? [{ ...op, added }] : [];
  });
  return { ...manifest, operations };
}

/**
 * A file some operation added was rewritten by Bootkey (a grub.cfg given kernel parameters): its recorded hash
 * follows, so undo still recognises it as Bootkey's and does not keep it as the user's change.
 */
export function withRewrittenFile(manifest: KeyManifest, path: string, now: { size: number; sha256: string }): KeyManifest {
  const key = keyPathKey(path);
  const operations = manifest.operations.map((op) => (op.added.some((f) => keyPathKey(f.path) === key && f.sha256 !== null)
    ? { ...op, added: op.added.map((f) => (keyPathKey(f.path) === key && f.sha256 !== null ? { ...f, ...now } : f)) }
    : op));
  return { ...manifest, operations };
}
