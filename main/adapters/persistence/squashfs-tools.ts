import type { SquashfsTools } from '../../ports/persistence-files.js';
import { mustSucceed } from './run-tool.js';

const PACKAGE = 'squashfs-tools';

/** `unsquashfs -lln` line: mode, uid/gid, size, date, time, path under squashfs-root. */
const LISTING_LINE = /^-\S+ \S+\s+(\d+) \d{4}-\d\d-\d\d \d\d:\d\d squashfs-root\/(.+)$/;

/** unsquashfs / mksquashfs on image files: no root, no loop device, no mount. */
export const squashfsTools: SquashfsTools = {
  async fileSize(image, inner) {
    const listing = await mustSucceed('unsquashfs', ['-lln', image, inner], PACKAGE);
    for (const line of listing.split('\n')) {
      const match = LISTING_LINE.exec(line);
      if (match && match[2] === inner) return Number(match[1]);
    }
    return undefined;
  },
  async extract(image, inner, dir, signal) {
    // -d must not exist yet: unsquashfs makes it (and keeps holes: sparse files by default).
    await mustSucceed('unsquashfs', ['-q', '-n', '-d', dir, image, inner], PACKAGE, signal);
  },
  async build(dir, out, { compression, blockSize, signal }) {
    await mustSucceed('mksquashfs', [dir, out, '-noappend', '-all-root', '-no-progress', '-quiet', '-comp', compression, '-b', String(blockSize)], PACKAGE, signal);
  },
};
