import type { ExtractProgress, ExtractSummary } from './extract.js';
import type { ByteSource } from './byte-source.js';
import type { FileSystemTree } from '../core/filesystem-tree.js';

/** An image file opened for reading; close it when done. */
export interface OpenSource extends ByteSource {
  close(): Promise<void>;
}

/** Opening image files and writing trees out of them: what the image service needs from the host. */
export interface ImageFiles {
  open(path: string): Promise<OpenSource>;
  extract(tree: FileSystemTree, path: string, dest: string, onProgress?: (p: ExtractProgress) => void): Promise<ExtractSummary>;
}
