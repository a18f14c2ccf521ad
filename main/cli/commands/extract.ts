import { hostImageFiles } from '../../adapters/fs/image-files.js';
import { ImageService } from '../../services/images.js';
import { parseCommandArgs, requirePositionals, SELECTOR_OPTIONS, treeSelector } from '../args.js';
import { reportError } from '../bootkey.js';
import { EXIT_OK, type Command } from '../command.js';
import { progressPrinter } from '../progress.js';
import { counted } from '../../../preload/counted.js';

const USAGE = `Usage: bootkey extract FILE PATH DEST [--partition N | --el-torito N] [--json]

Copies PATH (a file, or a whole directory tree with '/') out of an image into DEST, keeping Rock Ridge modes
and symlinks. Existing files in DEST are never overwritten. Progress goes to stderr (with --json, one JSON
event per line on stdout).`;

export const extractCommand: Command = {
  name: 'extract',
  summary: 'copy a file or a directory tree out of an image, a partition of it, or its El Torito image',
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' }, ...SELECTOR_OPTIONS }, USAGE);
    requirePositionals(positionals, 3, 3, USAGE);
    const [file = '', path = '', dest = ''] = positionals;
    const json = values.json === true;
    try {
      const progress = progressPrinter(io, json);
      const summary = await new ImageService(hostImageFiles).extract(file, path, dest, treeSelector(values),
        (p) => progress.update('extract', p.bytesDone, p.bytesTotal));
      progress.done();
      if (json) io.stdout.write(`${JSON.stringify({ event: 'done', ...summary })}\n`);
      else io.stderr.write(`extracted ${counted(summary.files, 'file')}, ${counted(summary.directories, 'directory', 'directories')}, ${counted(summary.symlinks, 'symlink')}\n`);
      return EXIT_OK;
    } catch (error) {
      return reportError(error, json, io, file);
    }
  },
};
