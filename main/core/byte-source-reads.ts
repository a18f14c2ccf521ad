import type { ByteSource } from '../ports/byte-source.js';
import { ParseError } from './errors.js';

/**
 * Reads exactly `length` bytes at `offset`, or fails with a ParseError at that offset naming `what` was being
 * read. Parsers call this for every structure, so a truncated image is always a typed error, never a short
 * array read past its end.
 */
export async function readExact(source: ByteSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new ParseError(`${what}: impossible position ${offset} (+${length})`, Math.max(0, offset) || 0);
  }
  if (offset + length > source.size) {
    throw new ParseError(`${what} lies beyond the end of the image (${source.size} bytes)`, offset);
  }
  const bytes = await source.read(offset, length);
  if (bytes.length !== length) throw new ParseError(`${what} is truncated`, offset + bytes.length);
  return bytes;
}

/**
 * A window `[start, start + size)` of another source: a partition of a disk image, or an El Torito boot image
 * inside an ISO, so the FAT reader can read inside it with offsets of its own.
 */
export function sliceByteSource(source: ByteSource, start: number, size: number): ByteSource {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || start < 0 || size < 0) {
    throw new ParseError(`impossible slice ${start} (+${size})`, 0);
  }
  const end = Math.min(source.size, start + size);
  const length = Math.max(0, end - start);
  const slice: ByteSource = {
    size: length,
    read(offset: number, count: number): Promise<Uint8Array> {
      const from = Math.min(length, Math.max(0, offset));
      const wanted = Math.max(0, Math.min(count, length - from));
      return source.read(start + from, wanted);
    },
  };
  const { readInto } = source;
  if (readInto) {
    slice.readInto = (offset, target) => {
      const from = Math.min(length, Math.max(0, offset));
      return readInto.call(source, start + from, target.subarray(0, Math.max(0, Math.min(target.length, length - from))));
    };
  }
  return slice;
}
