import type { TreeEntry } from '../../core/filesystem-tree.js';
import { formatBytes } from '../../core/drive-policy.js';
import { hostImageFiles } from '../../adapters/fs/image-files.js';
import { ImageService } from '../../services/images.js';
import { parseCommandArgs, requirePositionals, SELECTOR_OPTIONS, treeSelector } from '../args.js';
import { reportError } from '../bootkey.js';
import { EXIT_OK, type Command } from '../command.js';

const USAGE = `Usage: bootkey ls FILE [PATH] [--partition N | --el-torito N] [--json]

Lists a directory (default /) of an ISO, a UDF image, a FAT image, a partition of a disk image
(--partition N, numbered as Linux numbers them), or the FAT image of El Torito boot entry N (--el-torito N).`;

const KIND_MARK: Record<TreeEntry['kind'], string> = { directory: 'd', file: '-', symlink: 'l' };

function toText(entry: TreeEntry): string {
  const mode = entry.mode === undefined ? '' : `${(entry.mode & 0o7777).toString(8).padStart(4, '0')} `;
  const link = entry.kind === 'symlink' ? ` -> ${entry.linkTarget ?? ''}` : '';
  const size = entry.kind === 'file' ? formatBytes(entry.size) : '';
  return `${KIND_MARK[entry.kind]} ${mode}${size.padStart(10)}  ${entry.name}${entry.kind === 'directory' ? '/' : ''}${link}`;
}

export const listCommand: Command = {
  name: 'ls',
  summary: 'list a directory inside an image, a partition of it, or its El Torito boot image',
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' }, ...SELECTOR_OPTIONS }, USAGE);
    requirePositionals(positionals, 1, 2, USAGE);
    const [file = '', path = '/'] = positionals;
    try {
      const selector = treeSelector(values);
      const entries = await new ImageService(hostImageFiles).list(file, path, selector);
      io.stdout.write(values.json
        ? `${JSON.stringify({ path, entries: entries.map((e) => ({ ...e, mtime: e.mtime?.toISOString() })) }, null, 2)}\n`
        : entries.map((e) => `${toText(e)}\n`).join(''));
      return EXIT_OK;
    } catch (error) {
      return reportError(error, values.json === true, io, file);
    }
  },
};

