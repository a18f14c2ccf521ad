import { formatBytes } from '../../core/drive-policy.js';
import type { ImageInspection } from '../../core/inspect/inspect-image.js';
import { hostImageFiles } from '../../adapters/fs/image-files.js';
import { ImageService } from '../../services/images.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import { reportError } from '../bootkey.js';
import { EXIT_OK, type Command } from '../command.js';

const USAGE = `Usage: bootkey inspect FILE [--json]

Tells what an ISO or disk image is without mounting it: format, label, UUID, boot modes, EFI loaders with
their architecture, distro family and the evidence for it, El Torito entries, partitions and warnings.`;

function toText(file: string, r: ImageInspection): string {
  const modes = [r.boot.bios && 'BIOS', r.boot.uefi && 'UEFI'].filter(Boolean).join(' + ') || 'not bootable';
  const lines = [
    `${file}: ${r.format}${r.label ? ` "${r.label}"` : ''}${r.uuid ? ` (UUID ${r.uuid})` : ''}, ${formatBytes(r.size)}`,
    `  boots: ${modes}`,
    `  family: ${r.family}${r.familyEvidence.length ? ` (found ${r.familyEvidence.join(', ')})` : ''}`,
  ];
  for (const loader of r.efiLoaders) {
    const where = loader.where === 'tree' ? '' : ` in ${loader.where === 'el-torito' ? 'El Torito entry' : 'partition'} ${loader.index}`;
    lines.push(`  EFI loader: ${loader.path} (${loader.arch})${where}`);
  }
  if (r.loopbackCfg) lines.push(`  loopback.cfg: ${r.loopbackCfg.path}${r.loopbackCfg.passesIsoPath ? '' : ' (does not pass iso_path to the kernel)'}`);
  if (r.implantedMd5) lines.push('  implanted MD5: present (checkisomd5 can verify the medium)');
  for (const e of r.elTorito ?? []) {
    lines.push(`  El Torito ${e.number}: ${e.platform.toUpperCase()}, ${e.emulation === 'none' ? 'no emulation' : `${e.emulation} emulation`}, ${formatBytes(e.size)} at block ${e.lba}${e.path ? `, ${e.path}` : ', no path in the tree'}`);
  }
  for (const p of r.partitions) {
    const fs = p.filesystem ? `, ${p.filesystem.type}${p.filesystem.label ? ` "${p.filesystem.label}"` : ''}` : '';
    lines.push(`  partition ${p.number}: ${p.typeName}, ${formatBytes(p.size)} at ${p.start}${fs}`);
  }
  for (const warning of r.warnings) lines.push(`  warning: ${warning}`);
  return `${lines.join('\n')}\n`;
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'tell what an ISO or disk image is (boot modes, EFI loaders, distro family)',
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' } }, USAGE);
    requirePositionals(positionals, 1, 1, USAGE);
    const file = positionals[0] ?? '';
    try {
      const result = await new ImageService(hostImageFiles).inspect(file);
      io.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : toText(file, result));
      return EXIT_OK;
    } catch (error) {
      return reportError(error, values.json === true, io, file);
    }
  },
};
