import { resolve } from 'node:path';
import { formatBytes } from '../../core/drive-policy.js';
import { BootkeyError } from '../../core/errors.js';
import type { CopyEfiEvent } from '../../services/copy-efi.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import { reportError } from '../bootkey.js';
import { cancelOnSignal } from '../cancel-on-signal.js';
import { EXIT_BAD_INPUT, EXIT_OK, type CliIo, type Command } from '../command.js';
import { withKeyServices } from '../key-services.js';
import { progressPrinter } from '../progress.js';
import { counted } from '../../../preload/counted.js';

const COPY_USAGE = `Usage: bootkey copy-efi SOURCE --to TARGET [--replace] [--dry-run] [--json]

Makes an existing FAT key boot SOURCE (an ISO, or a disk image with an EFI partition) under UEFI without
erasing anything: copies its UEFI loaders, GRUB and every file its boot configuration loads, and rewrites
references to the original medium's label to the key's UUID. TARGET is a drive (/dev/sdX or /dev/sdX1), a
mounted folder, or an image file. Files on the key that Bootkey did not put there are never overwritten
unless --replace is given, and then kept in /.bootkey/backup. --dry-run prints the plan (every file, its
action and size) on stdout and writes nothing; it exits 2 when the copy would be refused. Progress goes to
stderr (with --json, one JSON event per line on stdout). Exit 0 only when every file is durable and verified. Ctrl-C stops the copy and removes what it wrote: the key is left as it was.`;

const UNDO_USAGE = `Usage: bootkey undo-efi --from TARGET [--json]

Removes every file Bootkey added to TARGET (also what an interrupted copy left) and puts back the files it
replaced, as recorded in TARGET's /.bootkey/manifest.json.`;


function printPlan(event: Extract<CopyEfiEvent, { event: 'plan' }>, io: CliIo, dryRun: boolean): void {
  const { plan, selection, target } = event;
  const lines = [
    `Target: ${target.root}${target.device ? ` (${target.device}, ${target.fsType}${target.uuid ? ` UUID ${target.uuid}` : ''})` : ''}, ${formatBytes(target.freeBytes)} free`,
    `UEFI loaders from ${selection.loaderSource}; ${counted(plan.files.length, 'file')}, ${formatBytes(plan.bytes)} (${formatBytes(plan.requiredBytes)} needed on the key)`,
  ];
  const shown = dryRun ? plan.files : plan.files.filter((f) => f.action !== 'add' || f.rewrites || f.ownGrub);
  for (const file of shown) {
    lines.push(`  ${file.action.padEnd(13)} ${file.to}  ${formatBytes(file.size)}${file.ownGrub ? '  (Bootkey\'s GRUB)' : ''}`);
    for (const r of file.rewrites ?? []) lines.push(`      line ${r.line}: ${r.before}\n           → ${r.after}`);
  }
  for (const conflict of plan.conflicts) lines.push(`  conflict: ${conflict.path} is yours (${formatBytes(conflict.size)})`);
  for (const warning of selection.warnings) lines.push(`  warning: ${warning}`);
  for (const problem of plan.problems) lines.push(`  refused: ${problem.message}`);
  // A dry run's plan is what was asked for (stdout, for a pager or a script); before a copy it is a preface.
  (dryRun ? io.stdout : io.stderr).write(`${lines.join('\n')}\n`);
}

export const copyEfiCommand: Command = {
  name: 'copy-efi',
  summary: 'make an existing FAT key boot an image under UEFI, keeping its files',
  usage: COPY_USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { to: { type: 'string' }, replace: { type: 'boolean' },
      'dry-run': { type: 'boolean' }, json: { type: 'boolean' } }, COPY_USAGE);
    requirePositionals(positionals, 1, 1, COPY_USAGE);
    const json = values.json === true;
    const dryRun = values['dry-run'] === true;
    const source = resolve(positionals[0] ?? '');
    try {
      if (typeof values.to !== 'string') {
        return reportError(new BootkeyError('INVALID_ARGUMENT', `--to TARGET is required\n${COPY_USAGE}`), json, io);
      }
      const target = resolve(values.to);
      const progress = progressPrinter(io, json);
      const result = await cancelOnSignal(io, (signal) => withKeyServices(({ copyEfi: service }) => service.copy({ source, target, replace: values.replace === true, dryRun, signal }, (event) => {
        if (event.event === 'plan') {
          if (json) io.stdout.write(`${JSON.stringify({ event: 'plan', target: event.target, loaderSource: event.selection.loaderSource,
            files: event.plan.files.map(({ content: _content, ...f }) => f), bytes: event.plan.bytes, requiredBytes: event.plan.requiredBytes,
            conflicts: event.plan.conflicts, problems: event.plan.problems, warnings: event.selection.warnings })}\n`);
          else printPlan(event, io, dryRun);
        } else progress.update(event.phase === 'copy' ? 'copy (durable)' : 'verify (read back from the key)', event.bytesDone, event.bytesTotal, event.bytesDone === event.bytesTotal);
      })));
      progress.done();
      if (json) io.stdout.write(`${JSON.stringify({ event: 'done', written: result.written, operation: result.operation ?? null, files: result.plan.files.length, bytes: result.plan.bytes })}\n`);
      else if (result.written) io.stderr.write(`copied ${counted(result.plan.files.length, 'file')} (${formatBytes(result.plan.bytes)}), all flushed and verified; undo with: bootkey undo-efi --from ${values.to}\n`);
      else if (result.plan.problems.length > 0) io.stderr.write('dry run: the copy would be refused (see above); nothing was written\n');
      else io.stderr.write('dry run: nothing was written\n');
      return result.plan.problems.length > 0 ? EXIT_BAD_INPUT : EXIT_OK;
    } catch (error) {
      return reportError(error, json, io, positionals[0]);
    }
  },
};

export const undoEfiCommand: Command = {
  name: 'undo-efi',
  summary: 'remove what copy-efi added to a key and restore what it replaced',
  usage: UNDO_USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { from: { type: 'string' }, json: { type: 'boolean' } }, UNDO_USAGE);
    requirePositionals(positionals, 0, 0, UNDO_USAGE);
    const json = values.json === true;
    try {
      if (typeof values.from !== 'string') {
        return reportError(new BootkeyError('INVALID_ARGUMENT', `--from TARGET is required\n${UNDO_USAGE}`), json, io);
      }
      const result = await withKeyServices(({ copyEfi: service }) => service.undo(resolve(values.from as string)));
      if (json) io.stdout.write(`${JSON.stringify({ event: 'done', ...result })}\n`);
      else {
        io.stderr.write(`removed ${counted(result.removed.length, 'file')}, restored ${result.restored.length}${result.kept.length ? `; kept ${result.kept.length} you changed: ${result.kept.join(', ')}` : ''}\n`);
      }
      return EXIT_OK;
    } catch (error) {
      return reportError(error, json, io, values.from as string | undefined);
    }
  },
};
