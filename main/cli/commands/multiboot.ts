import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { formatBytes } from '../../core/drive-policy.js';
import { BootkeyError } from '../../core/errors.js';
import type { GrubMenu } from '../../core/grub/grub-menu.js';
import { type MenuChanges } from '../../services/multiboot.js';
import { parseCommandArgs, requirePositionals, wholeNumber } from '../args.js';
import { cancelOnSignal } from '../cancel-on-signal.js';
import { EXIT_OK, type CliIo, type Command } from '../command.js';
import { withKeyServices } from '../key-services.js';
import { progressPrinter } from '../progress.js';
import { counted } from '../../../preload/counted.js';

const USAGE = `Usage: bootkey multiboot init TARGET [--fresh [--label L] [--yes]] [--json]
       bootkey multiboot add TARGET ISO… [--title T] [--params P] [--json]
       bootkey multiboot remove TARGET NAME… [--json]
       bootkey multiboot list TARGET [--verify] [--json]
       bootkey multiboot menu TARGET [--print] [--timeout S|--timeout=-1] [--default NAME] [--serial | --no-serial]
                              [--title NAME=T]… [--params NAME=P]… [--order NAME,NAME…] [--json]

A key that boots many ISO files through GRUB, on BIOS and UEFI machines. TARGET is a drive (/dev/sdX or
/dev/sdX1), a mounted folder, or an image file.
  init     installs GRUB without erasing anything (MBR keys whose first partition starts at 1 MiB or later:
           BIOS and UEFI; otherwise UEFI only, with a warning). --fresh erases the drive first (one FAT
           partition labelled BOOTKEY, or --label), after you confirm the device (--yes when not interactive).
  add      copies ISO files into /isos/ (durable, verified, with a .sha256 beside each) and rewrites the menu.
           Ctrl-C during init or add stops it and removes what it wrote.
  remove   deletes ISO files from /isos/ and rewrites the menu.
  list     name, size, family, boot modes and whether the copy was verified (--verify hashes again).
  menu     rewrites the menu from the ISOs on the key; --print shows it. Titles, extra kernel parameters,
           default entry, timeout and serial console are kept on the key for every later rewrite; --order
           puts the named ISOs' entries first, in that order (the others follow by name).`;


/** Seconds, or -1 to wait for a key forever (written `--timeout=-1`). */
function timeoutOf(value: string): number {
  if (value === '-1') return -1;
  return wholeNumber(value, 'timeout') as number;
}

function pairs(values: unknown, option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (values as string[] | undefined) ?? []) {
    const at = item.indexOf('=');
    if (at <= 0) throw new BootkeyError('INVALID_ARGUMENT', `--${option} takes NAME=VALUE, not '${item}'`);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

function printMenu(menu: GrubMenu, io: CliIo, json: boolean): void {
  if (json) return;
  io.stderr.write(`Menu: ${counted(menu.entries.length, 'entry', 'entries')}\n`);
  for (const e of menu.entries) io.stderr.write(`  ${e.title}  [${e.method}${e.platform === 'any' ? '' : `, ${e.platform === 'efi' ? 'UEFI' : 'BIOS'} only`}]\n`);
  for (const w of menu.warnings) io.stderr.write(`  warning: ${w}\n`);
}

async function askToErase(description: string, io: CliIo, yes: boolean): Promise<boolean> {
  io.stderr.write(`This ERASES everything on ${description}\n`);
  if (yes) return true;
  if (!process.stdin.isTTY) {
    throw new BootkeyError('INVALID_ARGUMENT', 'not interactive: add --yes to confirm erasing the drive named above');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question('Type "erase" to continue: ')).trim() === 'erase';
  } finally {
    rl.close();
  }
}

export const multibootCommand: Command = {
  name: 'multiboot',
  summary: 'a key that boots many ISO files through GRUB (init, add, remove, list, menu)',
  usage: USAGE,
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values, positionals } = parseCommandArgs(rest, {
      json: { type: 'boolean' }, fresh: { type: 'boolean' }, label: { type: 'string' }, yes: { type: 'boolean' },
      title: { type: 'string', multiple: true }, params: { type: 'string', multiple: true }, verify: { type: 'boolean' },
      print: { type: 'boolean' }, timeout: { type: 'string' }, default: { type: 'string' }, serial: { type: 'boolean' },
      'no-serial': { type: 'boolean' }, order: { type: 'string' },
    }, USAGE);
    const json = values.json === true;
    // One line, last: progress events come before it on stdout, one per line.
    const out = (value: unknown) => io.stdout.write(`${JSON.stringify(value)}\n`);
    const [target, ...names] = positionals;
    if (target === undefined) throw new BootkeyError('INVALID_ARGUMENT', `TARGET is missing\n${USAGE}`);
    const spec = resolve(target);
    switch (sub) {
      case 'init': {
        requirePositionals(positionals, 1, 1, USAGE);
        const progress = progressPrinter(io, json);
        const report = await cancelOnSignal(io, (signal) => withKeyServices(({ multiboot: s }) => s.init(spec, {
          fresh: values.fresh === true, label: values.label as string | undefined,
          confirm: (description) => askToErase(description, io, values.yes === true), signal,
        }, (p) => progress.update(p.phase, p.done, p.total))));
        progress.done();
        if (json) out({ bios: report.bios, uefi: report.uefi, warnings: report.warnings, entries: report.menu.entries });
        else {
          io.stdout.write(`GRUB installed on ${target}: ${report.bios ? 'BIOS and UEFI' : 'UEFI only'}\n`);
          for (const w of report.warnings) io.stderr.write(`warning: ${w}\n`);
        }
        return EXIT_OK;
      }
      case 'add': {
        requirePositionals(positionals, 2, Number.MAX_SAFE_INTEGER, USAGE);
        const [title, ...moreTitles] = (values.title as string[] | undefined) ?? [];
        const [extraParams, ...moreParams] = (values.params as string[] | undefined) ?? [];
        if ((title !== undefined || extraParams !== undefined) && names.length > 1 || moreTitles.length || moreParams.length) {
          throw new BootkeyError('INVALID_ARGUMENT', '--title and --params apply to one ISO at a time (or use `menu --title NAME=T`)');
        }
        const progress = progressPrinter(io, json);
        const result = await cancelOnSignal(io, (signal) => withKeyServices(({ multiboot: s }) => s.add(spec, names.map((n) => resolve(n)),
          (p) => progress.update(p.phase, p.done, p.total, p.done === p.total), { title, extraParams, signal })));
        progress.done();
        if (json) out({ added: result.added, warnings: result.warnings, entries: result.menu.entries });
        else {
          io.stdout.write(`Added ${result.added.join(', ')}\n`);
          printMenu(result.menu, io, json);
        }
        return EXIT_OK;
      }
      case 'remove': {
        requirePositionals(positionals, 2, Number.MAX_SAFE_INTEGER, USAGE);
        const result = await withKeyServices(({ multiboot: s }) => s.remove(spec, names));
        if (json) out({ removed: result.removed, entries: result.menu.entries });
        else {
          io.stdout.write(`Removed ${result.removed.join(', ')}\n`);
          printMenu(result.menu, io, json);
        }
        return EXIT_OK;
      }
      case 'list': {
        requirePositionals(positionals, 1, 1, USAGE);
        const isos = await withKeyServices(({ multiboot: s }) => s.list(spec, { verify: values.verify === true }));
        if (json) out({ isos });
        else {
          for (const i of isos) {
            const modes = [i.boot.bios && 'BIOS', i.boot.uefi && 'UEFI'].filter(Boolean).join('+') || 'not bootable';
            io.stdout.write(`${i.name}  ${formatBytes(i.size)}  ${i.family}  ${modes}  ${i.verified ? 'verified' : 'NOT verified'}${i.inMenu ? '' : '  (no menu entry)'}\n`);
          }
          if (isos.length === 0) io.stdout.write('No ISO files on the key.\n');
        }
        return EXIT_OK;
      }
      case 'menu': {
        requirePositionals(positionals, 1, 1, USAGE);
        if (values.serial && values['no-serial']) throw new BootkeyError('INVALID_ARGUMENT', 'choose --serial or --no-serial');
        const changes: MenuChanges = {
          ...(values.timeout !== undefined && { timeoutSeconds: timeoutOf(values.timeout as string) }),
          ...(values.default !== undefined && { defaultName: values.default as string }),
          ...(values.serial && { serial: { unit: 0, speed: 115200 } }),
          ...(values['no-serial'] && { serial: null }),
          ...(values.title && { titles: pairs(values.title, 'title') }),
          ...(values.params && { extraParams: pairs(values.params, 'params') }),
          ...(values.order !== undefined && { order: (values.order as string).split(',').map((n) => n.trim()).filter(Boolean) }),
        };
        const menu = await withKeyServices(({ multiboot: s }) => s.menu(spec, changes));
        if (json) out({ entries: menu.entries, warnings: menu.warnings, ...(values.print && { text: menu.text }) });
        else {
          if (values.print) io.stdout.write(menu.text);
          printMenu(menu, io, json);
        }
        return EXIT_OK;
      }
      default:
        throw new BootkeyError('INVALID_ARGUMENT', `unknown multiboot command '${sub ?? ''}'\n${USAGE}`);
    }
  },
};
