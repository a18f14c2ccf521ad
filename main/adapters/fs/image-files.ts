import { BootkeyError } from '../../core/errors.js';
import type { ImageFiles, OpenSource } from '../../ports/image-files.js';
import { FileByteSource } from './file-byte-source.js';
import { extractTree } from './tree-extractor.js';

/** Image files on the host's filesystem, with errno translated into our error codes. */
export const hostImageFiles: ImageFiles = {
  async open(path: string): Promise<OpenSource> {
    try {
      return await FileByteSource.open(path);
    } catch (error) {
      throw translateErrno(error, path);
    }
  },
  async extract(tree, path, dest, onProgress) {
    try {
      return await extractTree(tree, path, dest, onProgress);
    } catch (error) {
      throw translateErrno(error, dest);
    }
  },
};

export function translateErrno(error: unknown, path: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT': return new BootkeyError('NOT_FOUND', `${path}: no such file or directory`, { path });
    case 'EACCES': case 'EPERM': return new BootkeyError('AUTH_DENIED', `${path}: permission denied`, { path });
    case 'EISDIR': return new BootkeyError('INVALID_ARGUMENT', `${path} is a directory, not an image file`, { path });
    case 'EEXIST': return new BootkeyError('CONFLICT', `${path} already exists`, { path });
    case 'ENOSPC': return new BootkeyError('NOT_ENOUGH_SPACE', `no space left while writing ${path}`, { path });
    case 'EIO': return new BootkeyError('IO_ERROR', `${path}: input/output error`, { path });
    default: return error;
  }
}
