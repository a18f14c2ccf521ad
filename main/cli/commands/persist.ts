import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { hostDurableWriter } from '../../adapters/fs/durable-writer.js';
import { hostKeyFiles } from '../../adapters/fs/key-files.js';
import { e2fsprogs } from '../../adapters/persistence/e2fsprogs.js';
import { hostPersistenceFiles } from '../../adapters/persistence/host-persistence-files.js';
import { squashfsTools } from '../../adapters/persistence/squashfs-tools.js';
import { formatBytes } from '../../core/drive-policy.js';
import { BootkeyError } from '../../core/errors.js';
import { dmStatusText } from '../../core/persistence/dm-snapshot.js';
import type { OverlayUsage } from '../../core/persistence/overlay-status.js';
import { parseSize } from '../../core/persistence/persistence-plan.js';
import { PersistenceService, type Confirm, type LiveInstallation, type LiveIdentity, type PersistenceFile, type RecoverResult } from '../../services/persistence.js';
import { parseCommandArgs, requirePositionals, type ParsedArgs } from '../args.js';
import { reportError } from '../bootkey.js';
import { EXIT_OK, type CliIo, type Command } from '../command.js';
import { withKeyServices } from '../key-services.js';
import { readHomePassphrase } from './persist-passphrase.js';
import { counted } from '../../../preload/counted.js';

const USAGE = `Usage: bootkey persist SUBCOMMAND ...

LiveOS (Fedora, dracut dmsquash-live) persistence on a key. TARGET is a drive (/dev/sdX, /dev/sdX1), a
mounted folder or an image file; the live image is its /LiveOS folder, or a Fedora live ISO in the multi-ISO
library (/isos). The overlay is named as dracut names it: LiveOS/overlay-<LABEL>-<UUID> of the key's
filesystem (--label/--uuid when they cannot be read), isos/overlay-<LABEL>-<UUID> of the ISO. create adds
rd.live.overlay=UUID=<key>:<overlay> (and rd.live.overlay.overlayfs) to the boot entries of that live image
(the key's grub.cfg files, or the ISO's extra kernel parameters in the multi-ISO menu); delete takes them out.
NAME is a file name (overlay-…, home.img) or its key path (isos/overlay-…).

  list TARGET [--json]                       the live images, their overlays and home.img with their usage
  status TARGET [NAME] [--json]              how full an overlay is
  status --file OVERLAY [--json]             the same for one file: for a device-mapper overlay the numbers
                                             'dmsetup status' prints for it when active
  create TARGET --size SIZE [--type dm|overlayfs] [--home SIZE] [--image ISO]
                                             a new overlay (default overlayfs: an ext4 image with overlayfs/
                                             and ovlwork/; dm: a snapshot store for LiveOS/rootfs.img images);
                                             --image: for that ISO of the library (--uuid then names the key)
                [--home-passphrase-file FILE|-]  home.img encrypted (LUKS2), unlocked at every boot with the
                                             passphrase in FILE (one line; '-': stdin, asked on a terminal)
  grow TARGET [NAME] --size SIZE             a larger overlay or home.img (never smaller)
  reset TARGET [NAME] [--yes]                empty an overlay (everything written to it is lost)
  recover TARGET [NAME] [--yes] [--work DIR] an overlay marked Invalid: header saved beside it, valid flag set
                                             (ext4: e2fsck -y); a dm overlay's filesystem is then checked on a
                                             scratch copy in DIR (default the temporary folder): clean,
                                             repairable (by merge) or beyond repair (reset)
  delete TARGET NAME... [--yes]              remove overlays or home.img and their kernel parameters
  merge TARGET [NAME] [--work DIR]           a dm overlay merged into a new LiveOS/squashfs.img: rootfs.img
                                             extracted into DIR (default the temporary folder), the overlay's
                                             changes applied, e2fsck -f -y; the new image keeps the old one's
                                             compressed blocks and compresses only the changed ones (mksquashfs,
                                             same compressor and options; all of it when the image holds more
                                             than rootfs.img), verified, swapped in; then the overlay is reset

SIZE: 512M, 2G, 1.5GiB. FAT cannot hold files of 4 GiB or more. Options: --label L --uuid U --json.
reset, recover and delete say what is lost and ask; without a terminal they need --yes.`;

const COMMON = { json: { type: 'boolean' }, label: { type: 'string' }, uuid: { type: 'string' } } as const;


function usageLine(u: OverlayUsage): string {
  const head = `${u.type}, ${formatBytes(u.usedBytes)} of ${formatBytes(u.capacityBytes)} used (${u.percentUsed}%)`;
  if (u.type === 'dm-snapshot') return `${head}; ${u.state}, ${u.exceptions} chunks changed; dmsetup status: ${dmStatusText(u)}`;
  return `${head}; ${u.valid ? 'no recorded errors' : 'errors recorded: run recover'}${u.clean ? '' : ', not cleanly unmounted'}`;
}

function fileLine(f: PersistenceFile): string {
  const kernel = [...(f.kernel ?? []).map((k) => `\n    in use by ${k.device}; the kernel says: ${k.status}`),
    ...(f.kernelProblem ? [`\n    in use; the kernel's numbers could not be read: ${f.kernelProblem}`] : [])].join('');
  const luks = f.luks && `LUKS${f.luks.version} (${f.luks.cipher}), ${formatBytes(f.luks.dataBytes)} encrypted${f.luks.unfinished ? ', encryption NOT finished' : ''}; usage unknown while locked`;
  return `  ${f.name}${f.matchesKey ? ' (dracut uses this one)' : ''}: ${f.usage ? usageLine(f.usage) : luks || `unreadable: ${f.problem}`}${kernel}`;
}

function installationText(i: LiveInstallation): string {
  const head = i.kind === 'extracted' ? `${i.dir}: ${[i.squashfs ? 'squashfs.img' : '', i.rootfs ? 'rootfs.img' : ''].filter(Boolean).join(' ')}`
    : i.iso ? `${i.dir}/${i.iso.name}: Fedora live ISO "${i.iso.label}" (${i.iso.uuid})` : `${i.dir}: overlays whose ISO is not on the key`;
  return [head, ...i.files.map(fileLine)].join('\n');
}

/** Asks before a change that loses data; without a terminal only --yes goes on. */
function asker(io: CliIo, yes: boolean): Confirm {
  return async (description) => {
    io.stderr.write(`This will ${description}\n`);
    if (yes) return true;
    if (!process.stdin.isTTY) throw new BootkeyError('INVALID_ARGUMENT', 'not interactive: add --yes to confirm the change named above');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await rl.question('Continue? [y/N] ')).trim());
    } finally {
      rl.close();
    }
  };
}

function identity(values: ParsedArgs['values']): LiveIdentity {
  return { ...(values.label !== undefined ? { label: values.label as string } : {}), ...(values.uuid !== undefined ? { uuid: values.uuid as string } : {}) };
}

function print(io: CliIo, json: boolean, value: unknown, text: string): number {
  io.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  return EXIT_OK;
}

type Sub = (values: ParsedArgs['values'], positionals: string[], io: CliIo) => Promise<number>;

const SUBCOMMANDS: Record<string, { options: Record<string, { type: 'string' | 'boolean' }>; min: number; max: number; run: Sub }> = {
  list: {
    options: {}, min: 1, max: 1,
    run: (values, [target], io) => withKeyServices(async ({ persistence: s }) => {
      const found = await s.list(target as string, identity(values));
      const text = found.length === 0 ? `no LiveOS folder and no Fedora live ISO on ${target}` : found.map(installationText).join('\n');
      return print(io, values.json === true, found, text);
    }),
  },
  status: {
    options: { file: { type: 'string' } }, min: 0, max: 2,
    run: async (values, [target, name], io) => {
      if (values.file !== undefined) {
        if (target !== undefined) throw new BootkeyError('INVALID_ARGUMENT', `give either --file or a TARGET\n${USAGE}`);
        const file = values.file as string;
        const usage = await withFiles((s) => s.usageOf(file));
        return print(io, values.json === true, usage, `${file}: ${usageLine(usage)}`);
      }
      if (target === undefined) throw new BootkeyError('INVALID_ARGUMENT', `status needs a TARGET or --file\n${USAGE}`);
      const file = await withKeyServices(({ persistence: s }) => s.status(target, identity(values), name));
      return print(io, values.json === true, file, `${file.path}\n${fileLine(file)}`);
    },
  },
  create: {
    options: { size: { type: 'string' }, type: { type: 'string' }, home: { type: 'string' }, image: { type: 'string' }, 'home-passphrase-file': { type: 'string' } },
    min: 1, max: 1,
    run: async (values, [target], io) => {
      const type = (values.type as string | undefined) ?? 'overlayfs';
      if (type !== 'dm' && type !== 'overlayfs') throw new BootkeyError('INVALID_ARGUMENT', `--type is dm or overlayfs, not '${type}'`);
      if (values.size === undefined) throw new BootkeyError('INVALID_ARGUMENT', `create needs --size\n${USAGE}`);
      const size = parseSize(values.size as string);
      const homeSize = values.home === undefined ? undefined : parseSize(values.home as string);
      const passphraseFile = values['home-passphrase-file'] as string | undefined;
      const homePassphrase = passphraseFile === undefined ? undefined : await readHomePassphrase(passphraseFile, io);
      return withKeyServices(async ({ persistence: s }) => {
        const made = await s.create(target as string, { ...identity(values), type, size, ...(homeSize !== undefined ? { homeSize } : {}),
          ...(homePassphrase ? { homePassphrase } : {}),
          ...(values.image !== undefined ? { image: values.image as string } : {}) });
        const boot = (f: PersistenceFile) => (f.kernelParams ? `\n  kernel parameters ${f.kernelParams.join(' ')}: ${f.bootProblem
          ?? (f.bootEntries ?? []).map((b) => `${b.file} (${counted(b.entries, 'entry', 'entries')})`).join(', ')}` : '');
        return print(io, values.json === true, made, made.map((f) => `created ${f.path}\n${fileLine(f)}${boot(f)}`).join('\n'));
      });
    },
  },
  grow: {
    options: { size: { type: 'string' } }, min: 1, max: 2,
    run: (values, [target, name], io) => {
      if (values.size === undefined) throw new BootkeyError('INVALID_ARGUMENT', `grow needs --size\n${USAGE}`);
      const size = parseSize(values.size as string);
      return withKeyServices(async ({ persistence: s }) => {
        const file = await s.grow(target as string, size, identity(values), name);
        return print(io, values.json === true, file, `grew ${file.path}\n${fileLine(file)}`);
      });
    },
  },
  reset: {
    options: { yes: { type: 'boolean' } }, min: 1, max: 2,
    run: (values, [target, name], io) => withKeyServices(async ({ persistence: s }) => {
      const file = await s.reset(target as string, identity(values), name, asker(io, values.yes === true));
      return print(io, values.json === true, file, `reset ${file.path}\n${fileLine(file)}`);
    }),
  },
  recover: {
    options: { yes: { type: 'boolean' }, work: { type: 'string' } }, min: 1, max: 2,
    run: (values, [target, name], io) => withKeyServices(async ({ persistence: s }) => {
      const r = await s.recover(target as string, identity(values), name, asker(io, values.yes === true), (values.work as string | undefined) ?? tmpdir());
      const text = [`recovered ${r.path} (header saved in ${r.backup})`, `  now: ${usageLine(r.after)}`,
        ...(r.fsck ? [`  e2fsck status ${r.fsck.exitCode}`] : []), ...(r.overlayCheck ? [overlayCheckLine(r.overlayCheck)] : [])];
      return print(io, values.json === true, r, text.join('\n'));
    }),
  },
  delete: {
    options: { yes: { type: 'boolean' } }, min: 2, max: 4,
    run: (values, [target, ...names], io) => withKeyServices(async ({ persistence: s }) => {
      const r = await s.delete(target as string, names, identity(values), asker(io, values.yes === true));
      const text = [...r.removed.map((p) => `deleted ${p}`),
        ...r.bootEntries.map((b) => `  kernel parameters taken out of ${b.file} (${counted(b.entries, 'entry', 'entries')})`)];
      return print(io, values.json === true, r, text.join('\n'));
    }),
  },
  merge: {
    options: { work: { type: 'string' } }, min: 1, max: 2,
    run: (values, [target, name], io) => withKeyServices(async ({ persistence: s }) => {
      const r = await s.merge(target as string, (values.work as string | undefined) ?? tmpdir(), identity(values), name);
      const text = [`merged ${r.overlay} into ${r.squashfs} (${r.compression}, ${r.blockSize}-byte blocks)`,
        `  ${r.exceptions} changed chunks in ${r.copies} copies; ${formatBytes(r.oldSquashfsBytes)} → ${formatBytes(r.newSquashfsBytes)}`,
        `  ${r.rebuild.method === 'reused-blocks' ? `${r.rebuild.reusedBlocks} compressed blocks reused, ${r.rebuild.changedBlocks} compressed again`
          : `compressed again with mksquashfs: ${r.rebuild.why}`}`,
        `  e2fsck: ${r.fsck.exitCode === 0 ? 'clean' : `status ${r.fsck.exitCode}, errors corrected`}${r.fsck.exitCode === 0 ? '' : `\n${r.fsck.output}`}`,
        `  overlay reset: ${usageLine(r.after)}`];
      return print(io, values.json === true, r, text.join('\n'));
    }),
  },
};

function overlayCheckLine(c: NonNullable<RecoverResult['overlayCheck']>): string {
  if ('notChecked' in c) return `  its filesystem was not checked: ${c.notChecked}`;
  if (c.verdict === 'clean') return '  its filesystem is clean (e2fsck -f -n on a scratch copy of what it shows)';
  const found = `e2fsck -f -n found errors (status ${c.check.exitCode})`;
  return c.verdict === 'repairable'
    ? `  ${found}; e2fsck -y repairs them on a scratch copy: merge the overlay to repair them for good, or reset it`
    : `  ${found}; beyond repair (e2fsck -y status ${c.repairTrial?.exitCode}): reset the overlay (everything written to it is lost)`;
}

/** `status --file` needs neither udisks nor a target. */
function withFiles<T>(work: (service: PersistenceService) => Promise<T>): Promise<T> {
  const noTarget = () => Promise.reject(new BootkeyError('INTERNAL', 'no target for a single file'));
  return work(new PersistenceService({
    files: hostPersistenceFiles, ext4: e2fsprogs, squashfs: squashfsTools, openTarget: noTarget, now: () => new Date(),
    keyFiles: hostKeyFiles, writer: hostDurableWriter(),
  }));
}

export const persistCommand: Command = {
  name: 'persist',
  summary: 'LiveOS persistence: list, create, measure, grow, reset, recover, merge and delete overlays and home.img',
  usage: USAGE,
  async run(args, io) {
    const [name, ...rest] = args;
    const sub = name === undefined ? undefined : SUBCOMMANDS[name];
    if (!sub) throw new BootkeyError('INVALID_ARGUMENT', `unknown persist subcommand '${name ?? ''}'\n${USAGE}`);
    const { values, positionals } = parseCommandArgs(rest, { ...COMMON, ...sub.options }, USAGE);
    requirePositionals(positionals, sub.min, sub.max, USAGE);
    try {
      return await sub.run(values, positionals, io);
    } catch (error) {
      return reportError(error, values.json === true, io, positionals[0] ?? (values.file as string | undefined));
    }
  },
};
