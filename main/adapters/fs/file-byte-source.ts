import { open, readFile, type FileHandle } from 'node:fs/promises';
import type { ByteSource } from '../../ports/byte-source.js';
import { readFull } from './positioned-io.js';

/** A ByteSource over a regular file or a block device, read with positioned reads (no whole-file loads). */
export class FileByteSource implements ByteSource {
  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<FileByteSource> {
    const handle = await open(path, 'r');
    try {
      const stat = await handle.stat();
      // stat() reports size 0 for a block device; the kernel tells its size in sysfs.
      const size = stat.isBlockDevice() ? await blockDeviceSize(handle) : stat.size;
      return new FileByteSource(handle, size);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const buffer = new Uint8Array(Math.max(0, Math.min(length, this.size - offset)));
    const done = await this.readInto(offset, buffer);
    return done === buffer.length ? buffer : buffer.subarray(0, done);
  }

  async readInto(offset: number, target: Uint8Array): Promise<number> {
    return readFull(this.handle, target.subarray(0, Math.max(0, Math.min(target.length, this.size - offset))), offset);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

async function blockDeviceSize(handle: FileHandle): Promise<number> {
  const { rdev } = await handle.stat();
  // Linux dev_t: major in bits 8-19, minor in bits 0-7 and 20-31
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 1048576) & 0xfff) << 8);
  const sectors = Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim());
  return sectors * 512;
}
