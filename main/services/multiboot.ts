import { formatBytes } from '../core/drive-policy.js';
import { identityOf } from '../core/drive-identity.js';
import { isCancellation, throwIfCancelled } from '../core/cancellation.js';
import { BootkeyError } from '../core/errors.js';
import { ChunkPool, sourceChunks } from '../core/tree-file-chunks.js';
import { generateGrubMenu, ISO_DIR, menuOrder, type GrubMenu, type MenuIso } from '../core/grub/grub-menu.js';
import { inspectImage, type ImageInspection } from '../core/inspect/inspect-image.js';
import { admitIso, checkIsoName, type AdmittedIso } from '../core/multiboot/iso-admission.js';
import { planGrubInstall, type GrubPlan } from '../core/multiboot/key-layout.js';
import {
  defaultSettings, GRUB_CFG_PATH, menuOptionsOf, parseSettings, serializeSettings, SETTINGS_PATH, type MultibootSettings,
} from '../core/multiboot/multiboot-settings.js';
import type { DiskProvider, Drive } from '../ports/disk-provider.js';
import type { DurableWriteResult, DurableWriter } from '../ports/durable-writer.js';
import type { GrubBuilder } from '../ports/grub-builder.js';
import type { ImageFiles, OpenSource } from '../ports/image-files.js';
import type { KeyFiles } from '../ports/key-files.js';
import type { PrivilegedRunner } from '../ports/privileged-runner.js';
import type { DriveService } from './drives.js';
import { openKeyTarget, type KeyTarget } from './key-target.js';

const COPY_CHUNK = 4 * 1024 * 1024;
const EFI_LOADER_PATH = '/EFI/BOOT/BOOTX64.EFI';
const EFI_MODULES_DIR = '/boot/grub/x86_64-efi';
/** Partition label of a fresh key (FAT labels hold 11 characters). */
export const FRESH_LABEL = 'BOOTKEY';

export interface MultibootDeps {
  disks: DiskProvider;
  drives: DriveService;
  files: KeyFiles;
  writer: DurableWriter;
  images: ImageFiles;
  grub: GrubBuilder;
  runner: PrivilegedRunner;
  sleep: (ms: number) => Promise<void>;
}

export interface MultibootProgress {
  phase: string;
  /** Durable bytes of the current file (never bytes only cached); in a `verifying …` phase, bytes read back from the key and checked. */
  done: number;
  total: number;
}

export interface InitOptions {
  fresh?: boolean;
  label?: string;
  /** Fresh only: shown the drive in words; resolve true to erase it. Nothing is written before it says yes. */
  confirm?: (description: string) => Promise<boolean>;
  /**
   * Cancels until GRUB's files are renamed into place (they are written as one batch): their temporaries are
   * removed, the key keeps what it had (folders Bootkey made stay, empty). After that, init completes.
   */
  signal?: AbortSignal;
}

export interface AddOptions {
  title?: string;
  extraParams?: string;
  /**
   * Cancels the add: every ISO of the call is written as one batch, so a cancel before they are all verified
   * removes what was written and leaves the key, its ISOs and its menu as before.
   */
  signal?: AbortSignal;
}

export interface InitReport {
  bios: boolean;
  uefi: boolean;
  warnings: string[];
  menu: GrubMenu;
}

export interface IsoListing {
  name: string;
  size: number;
  family: string;
  boot: { bios: boolean; uefi: boolean };
  /** A `.sha256` was written beside it after the copy was verified; with `verify`, the file still matches it. */
  verified: boolean;
  inMenu: boolean;
  /** Its title in the menu (the user's, or the one derived from its family and name). */
  title: string;
}

export interface MenuChanges {
  timeoutSeconds?: number;
  defaultName?: string;
  serial?: { unit: number; speed: number } | null;
  titles?: Record<string, string>;
  extraParams?: Record<string, string>;
  /** ISO file names in the order the menu lists them; the ones left out follow, by name. */
  order?: string[];
}

const join = (root: string, keyPath: string) => `${root.replace(/\/$/, '')}${keyPath}`;
const isLibraryFile = (name: string) => !name.startsWith('.') && /\.(iso|img)$/i.test(name);

/**
 * The multi-ISO key: GRUB for BIOS and UEFI without wiping the key (or on a fresh one), ISO files in /isos/,
 * and a menu regenerated from inspecting every ISO at each change, replaced atomically.
 */
export class MultibootService {
  constructor(private readonly deps: MultibootDeps) {}

  private async open<T>(spec: string, work: (target: KeyTarget) => Promise<T>, sources: number[] = []): Promise<T> {
    const { disks, drives, files, sleep } = this.deps;
    const target = await openKeyTarget(spec, { disks, drives, files, sleep }, { sourceDeviceNumbers: sources });
    try {
      return await work(target);
    } finally {
      await target.release();
    }
  }

  private async driveOf(target: KeyTarget): Promise<Drive | undefined> {
    if (!target.device) return undefined;
    return (await this.deps.disks.refresh()).drives.find((d) =>
      d.disk.device === target.device || d.partitions.some((p) => p.device === target.device));
  }

  async init(spec: string, options: InitOptions = {}, onProgress?: (p: MultibootProgress) => void): Promise<InitReport> {
    throwIfCancelled(options.signal, 'init cancelled: nothing was changed');
    if (options.fresh) await this.erase(spec, options);
    return this.open(spec, async (target) => {
      const drive = await this.driveOf(target);
      const plan: GrubPlan = drive
        ? planGrubInstall({
          partitionTable: drive.disk.partitionTable,
          partitions: drive.partitions.map((p) => ({ number: p.partition?.number ?? 0, offset: p.partition?.offset ?? 0,
            type: p.partition?.type ?? '', idType: p.idType, device: p.device })),
          filesystemDevice: target.device ?? '',
          filesystemType: target.fsType,
        })
        : { bios: false, uefi: true, partitionNumber: 0, warnings: ['a folder, not a drive: UEFI files only; BIOS boot code needs the device'] };
      const tools = await this.deps.grub.tools(plan.bios);
      const settingsText = await this.readKeyText(target, SETTINGS_PATH);
      const existing = await this.deps.files.kind(join(target.root, EFI_LOADER_PATH));
      if (existing !== 'missing' && settingsText === undefined) {
        throw new BootkeyError('CONFLICT', `the key already has ${EFI_LOADER_PATH} (another boot loader); Bootkey does not replace it`, { path: EFI_LOADER_PATH });
      }
      await target.recheck();
      for (const dir of ['/EFI', '/EFI/BOOT', '/boot', '/boot/grub', EFI_MODULES_DIR, ISO_DIR, '/.bootkey']) {
        await this.deps.files.makeDirectory(join(target.root, dir));
      }
      const efi = await this.deps.grub.buildEfiImage(tools);
      onProgress?.({ phase: 'GRUB for UEFI', done: 0, total: efi.length });
      const modules = await this.deps.grub.moduleFiles(tools.efiModules);
      const total = modules.reduce((n, m) => n + m.size, 0);
      let done = 0;
      // The loader and the modules as one batch: one flush for them all, nothing in place before all are verified.
      const batch = this.deps.writer.batch({ signal: options.signal });
      try {
        await batch.add(join(target.root, EFI_LOADER_PATH), chunksOf(efi), { size: efi.length, replace: true });
        for (const module of modules) {
          const source = await this.deps.images.open(module.path);
          try {
            await batch.add(join(target.root, `${EFI_MODULES_DIR}/${module.name}`), sourceChunks(source, 0, source.size), {
              size: source.size, replace: true,
              onDurable: (bytes) => {
                if (bytes < source.size) return;
                done += source.size;
                onProgress?.({ phase: 'GRUB modules', done, total });
              },
            });
          } finally {
            await source.close();
          }
        }
        await batch.commit();
      } catch (error) {
        await batch.discard();
        if (isCancellation(error)) throw new BootkeyError('CANCELLED', 'init cancelled before GRUB was put in place: its files were removed, the key is as it was (new folders stay, empty)');
        throw error;
      }
      if (plan.bios && drive) {
        onProgress?.({ phase: 'GRUB for BIOS', done: 0, total: 0 });
        if (drive.kind === 'loop' && drive.loop) {
          const first = Math.min(...drive.partitions.map((p) => p.partition?.offset ?? 0));
          await this.deps.grub.installBiosIntoImage(tools, drive.loop.backingFile, target.uuid ?? '', first);
        } else {
          const { device, serial, size } = identityOf(drive);
          await this.deps.runner.run({ verb: 'install-grub-bios', target: { device, serial, size }, mountPoint: target.root });
        }
      }
      if (settingsText === undefined) {
        await this.deps.writer.replaceAtomically(join(target.root, SETTINGS_PATH), serializeSettings(defaultSettings()));
      }
      const menu = await this.regenerate(target);
      return { bios: plan.bios, uefi: plan.uefi, warnings: [...plan.warnings, ...menu.warnings], menu };
    });
  }

  /** Fresh: one MBR table with one FAT partition from 1 MiB, after the user confirmed the drive by name. */
  private async erase(spec: string, options: InitOptions): Promise<void> {
    const snapshot = await this.deps.disks.refresh();
    const drive = snapshot.drives.find((d) => d.disk.device === spec);
    if (!drive) throw new BootkeyError('INVALID_ARGUMENT', `--fresh needs a whole drive such as /dev/sdb, not ${spec}`, { device: spec });
    const parts = drive.partitions.map((p) => `${p.device} ${p.idType || 'no filesystem'}${p.idLabel ? ` "${p.idLabel}"` : ''} ${formatBytes(p.size)}`);
    const description = `${drive.disk.device}: ${[drive.vendor, drive.model].filter(Boolean).join(' ') || 'unknown drive'}, ` +
      `${formatBytes(drive.size)}, ${parts.length ? `partitions: ${parts.join('; ')}` : 'no partitions'}`;
    if (!options.confirm || !(await options.confirm(description))) {
      throw new BootkeyError('CANCELLED', `not confirmed: nothing on ${drive.disk.device} was changed`, { device: drive.disk.device });
    }
    const label = (options.label ?? FRESH_LABEL).toUpperCase();
    if (!/^[A-Z0-9_-]{1,11}$/.test(label)) throw new BootkeyError('INVALID_ARGUMENT', `label '${label}': 1 to 11 letters, digits, _ or -`);
    await this.deps.drives.prepareKey(identityOf(drive), { table: 'dos', filesystem: 'vfat', label });
    // udisks shows the new partition's filesystem a moment after Format returns.
    for (let i = 0; i < 50; i += 1) {
      const now = (await this.deps.disks.refresh()).drives.find((d) => d.disk.device === spec);
      if (now?.partitions.some((p) => p.idType === 'vfat')) return;
      await this.deps.sleep(200);
    }
    throw new BootkeyError('TIMEOUT', `the new FAT partition on ${spec} did not appear`);
  }

  async add(spec: string, isoFiles: string[], onProgress?: (p: MultibootProgress) => void,
    options: AddOptions = {}): Promise<{ added: string[]; menu: GrubMenu; warnings: string[] }> {
    const sources: { file: string; name: string; source: OpenSource; admitted?: AdmittedIso }[] = [];
    try {
      for (const file of isoFiles) {
        const name = file.slice(file.lastIndexOf('/') + 1);
        checkIsoName(name);
        if (sources.some((s) => s.name.toLowerCase() === name.toLowerCase())) {
          throw new BootkeyError('CONFLICT', `${name} is named twice`, { name });
        }
        sources.push({ file, name, source: await this.deps.images.open(file) });
      }
      const deviceNumbers = await Promise.all(isoFiles.map((f) => this.deps.files.deviceNumber(f)));
      return await this.open(spec, async (target) => {
        const settings = await this.settingsOf(target);
        // Every check before the first byte: the key stays unchanged when one ISO is refused.
        let needed = 0;
        const repairs = new Set<string>();
        for (const s of sources) {
          s.admitted = await admitIso(s.source, s.name, target.fsType);
          const path = join(target.root, `${ISO_DIR}/${s.name}`);
          if ((await this.deps.files.kind(path)) !== 'missing') {
            // An earlier add that stopped between the copy and its .sha256 is finished, not refused.
            const hashed = (await this.deps.files.kind(`${path}.sha256`)) === 'missing'
              && (await this.deps.files.size(path)) === s.source.size
              && (await this.deps.files.sha256(path)) === (await this.deps.files.sha256(s.file));
            if (!hashed) throw new BootkeyError('CONFLICT', `${ISO_DIR}/${s.name} is already on the key (remove it first)`, { name: s.name });
            repairs.add(s.name);
            continue;
          }
          needed += s.source.size + s.admitted.companions.reduce((n, c) => n + c.length, 0);
        }
        if (needed > target.freeBytes) {
          throw new BootkeyError('NOT_ENOUGH_SPACE', `the ISO files need ${formatBytes(needed)}, the key has ${formatBytes(target.freeBytes)} free`,
            { needed, free: target.freeBytes });
        }
        throwIfCancelled(options.signal, 'add cancelled: nothing was written');
        await target.recheck();
        await this.deps.files.makeDirectory(join(target.root, ISO_DIR));
        const warnings: string[] = [];
        // Every ISO of the call (and its loaders) as one batch: flushed, then read back from the key and checked
        // under temporary names, renamed into place only when all are verified.
        const batch = this.deps.writer.batch({ signal: options.signal });
        /** Each copied ISO's place among the batch's files (its results). */
        const copied = new Map<string, number>();
        const pool = new ChunkPool(COPY_CHUNK);
        let count = 0;
        let results: DurableWriteResult[];
        try {
          for (const s of sources) {
            const admitted = s.admitted as AdmittedIso;
            warnings.push(...admitted.warnings);
            const base = join(target.root, `${ISO_DIR}/${s.name}`);
            for (const c of admitted.companions) {
              await batch.add(`${base}${c.suffix}`, sourceChunks(s.source, c.offset, c.length), { size: c.length, replace: true });
              count += 1;
            }
            if (repairs.has(s.name)) continue;
            const phase = `copying ${s.name}`;
            onProgress?.({ phase, done: 0, total: s.source.size });
            copied.set(s.name, count++);
            await batch.add(base, sourceChunks(s.source, 0, s.source.size, pool), {
              size: s.source.size,
              release: (chunk) => pool.give(chunk),
              onDurable: (done) => onProgress?.({ phase, done, total: s.source.size }),
              onVerified: (done) => onProgress?.({ phase: `verifying ${s.name}`, done, total: s.source.size }),
            });
          }
          results = await batch.commit();
        } catch (error) {
          await batch.discard();
          if (isCancellation(error)) throw new BootkeyError('CANCELLED', 'add cancelled: the ISO files it had written were removed; the key, its ISOs and its menu are as before');
          throw error;
        }
        for (const s of sources) {
          const base = join(target.root, `${ISO_DIR}/${s.name}`);
          const index = copied.get(s.name);
          const sha256 = index === undefined ? await this.deps.files.sha256(base) : (results[index] as DurableWriteResult).sha256;
          await this.deps.writer.replaceAtomically(`${base}.sha256`, new TextEncoder().encode(`${sha256}  ${s.name}\n`));
          if (options.title || options.extraParams) {
            settings.isos[s.name] = { ...settings.isos[s.name], ...(options.title && { title: options.title }),
              ...(options.extraParams && { extraParams: options.extraParams }) };
          }
        }
        if (options.title || options.extraParams) {
          await this.deps.writer.replaceAtomically(join(target.root, SETTINGS_PATH), serializeSettings(settings));
        }
        const menu = await this.regenerate(target);
        return { added: sources.map((s) => s.name), menu, warnings: [...warnings, ...menu.warnings] };
      }, deviceNumbers);
    } finally {
      for (const s of sources) await s.source.close();
    }
  }

  async remove(spec: string, names: string[]): Promise<{ removed: string[]; menu: GrubMenu }> {
    return this.open(spec, async (target) => {
      const present = new Set((await this.deps.grub.listFolder(join(target.root, ISO_DIR))).filter(isLibraryFile));
      for (const name of names) {
        if (!present.has(name)) throw new BootkeyError('NOT_FOUND', `${ISO_DIR}/${name} is not on the key`, { name });
      }
      await target.recheck();
      const settings = await this.settingsOf(target);
      for (const name of names) {
        // The ISO first: once it is gone the menu no longer offers it, whatever else a crash leaves.
        const base = join(target.root, `${ISO_DIR}/${name}`);
        for (const suffix of ['', '.sha256', '.efi', '.bin']) await this.deps.files.removeFile(`${base}${suffix}`);
        delete settings.isos[name];
        if (settings.defaultName === name) delete settings.defaultName;
        if (settings.order) settings.order = settings.order.filter((n) => n !== name);
      }
      await this.deps.writer.replaceAtomically(join(target.root, SETTINGS_PATH), serializeSettings(settings));
      return { removed: names, menu: await this.regenerate(target) };
    });
  }

  async list(spec: string, options: { verify?: boolean } = {}): Promise<IsoListing[]> {
    return this.open(spec, async (target) => {
      const { isos } = await this.inspectLibrary(target);
      const menu = generateGrubMenu(isos.map((i) => i.menu), menuOptionsOf(await this.settingsOf(target)));
      const listings: IsoListing[] = [];
      for (const { menu: iso, size } of isos) {
        const base = join(target.root, `${ISO_DIR}/${iso.name}`);
        const recorded = new TextDecoder().decode(await this.deps.files.readSmallFile(`${base}.sha256`, 4096) ?? new Uint8Array())
          .split(/\s+/)[0] ?? '';
        const verified = /^[0-9a-f]{64}$/.test(recorded) && (!options.verify || (await this.deps.files.sha256(base)) === recorded);
        const inspection = iso.inspection as ImageInspection;
        const entry = menu.entries.find((e) => e.name === iso.name);
        listings.push({ name: iso.name, size, family: inspection.family, boot: inspection.boot, verified,
          inMenu: entry !== undefined, title: entry?.title ?? iso.name });
      }
      return listings;
    });
  }

  /** Applies menu changes (kept in the key's settings) and rewrites grub.cfg; returns the menu. */
  async menu(spec: string, changes: MenuChanges = {}): Promise<GrubMenu> {
    return this.open(spec, async (target) => {
      const settings = await this.settingsOf(target);
      const changed = Object.keys(changes).length > 0;
      if (changes.timeoutSeconds !== undefined) settings.timeoutSeconds = changes.timeoutSeconds;
      if (changes.defaultName !== undefined) settings.defaultName = changes.defaultName;
      if (changes.serial === null) delete settings.serial;
      else if (changes.serial) settings.serial = changes.serial;
      for (const [name, title] of Object.entries(changes.titles ?? {})) settings.isos[name] = { ...settings.isos[name], title };
      for (const [name, extraParams] of Object.entries(changes.extraParams ?? {})) settings.isos[name] = { ...settings.isos[name], extraParams };
      if (changes.order) settings.order = [...new Set(changes.order)];
      if (changed) {
        await target.recheck();
        await this.deps.writer.replaceAtomically(join(target.root, SETTINGS_PATH), serializeSettings(settings));
      }
      return this.regenerate(target);
    });
  }

  private async readKeyText(target: KeyTarget, keyPath: string): Promise<string | undefined> {
    const bytes = await this.deps.files.readSmallFile(join(target.root, keyPath), 1024 * 1024);
    return bytes && new TextDecoder().decode(bytes);
  }

  private async settingsOf(target: KeyTarget): Promise<MultibootSettings> {
    const text = await this.readKeyText(target, SETTINGS_PATH);
    if (text === undefined) {
      throw new BootkeyError('NOT_FOUND', `${target.root} is not a multi-ISO key yet: run 'bootkey multiboot init' first`);
    }
    return parseSettings(text);
  }

  /** Inspects every ISO in /isos/ and removes leftovers of interrupted writes (temporary names). */
  private async inspectLibrary(target: KeyTarget): Promise<{ isos: { menu: MenuIso; size: number }[]; settings: MultibootSettings }> {
    const settings = await this.settingsOf(target);
    const names = await this.deps.grub.listFolder(join(target.root, ISO_DIR));
    const isos: { menu: MenuIso; size: number }[] = [];
    for (const name of menuOrder(names.filter(isLibraryFile), settings.order)) {
      const base = join(target.root, `${ISO_DIR}/${name}`);
      const source = await this.deps.images.open(base);
      try {
        const inspection = await inspectImage(source).catch((error: unknown) => {
          if (error instanceof BootkeyError) return undefined; // a damaged file on the key gets no entry
          throw error;
        });
        if (!inspection) continue;
        const loaders: MenuIso['loaders'] = {};
        for (const suffix of ['.efi', '.bin'] as const) {
          if ((await this.deps.files.kind(`${base}${suffix}`)) === 'file') loaders[suffix === '.efi' ? 'efi' : 'bios'] = `${ISO_DIR}/${name}${suffix}`;
        }
        isos.push({ size: source.size, menu: { name, inspection, loaders, ...settings.isos[name] } });
      } finally {
        await source.close();
      }
    }
    return { isos, settings };
  }

  private async regenerate(target: KeyTarget): Promise<GrubMenu> {
    for (const name of await this.deps.grub.listFolder(join(target.root, ISO_DIR))) {
      if (name.startsWith('.') && name.endsWith('.bootkey-tmp')) await this.deps.files.removeFile(join(target.root, `${ISO_DIR}/${name}`));
    }
    const { isos, settings } = await this.inspectLibrary(target);
    const menu = generateGrubMenu(isos.map((i) => i.menu), menuOptionsOf(settings));
    await this.deps.writer.replaceAtomically(join(target.root, GRUB_CFG_PATH), new TextEncoder().encode(menu.text));
    return menu;
  }
}

async function* chunksOf(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += COPY_CHUNK) yield bytes.subarray(at, at + COPY_CHUNK);
}


