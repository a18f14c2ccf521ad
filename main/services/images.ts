import type { FileSystemTree, TreeEntry } from '../core/filesystem-tree.js';
import { inspectImage, type ImageInspection } from '../core/inspect/inspect-image.js';
import { openImage, selectTree, type TreeSelector } from '../core/inspect/open-image.js';
import type { ExtractProgress, ExtractSummary } from '../ports/extract.js';
import type { ImageFiles, OpenSource } from '../ports/image-files.js';

/** Inspecting, listing and extracting image files: `bootkey inspect/ls/extract` and the app's image picker. */
export class ImageService {
  constructor(private readonly files: ImageFiles) {}

  inspect(file: string): Promise<ImageInspection> {
    return this.withSource(file, (source) => inspectImage(source));
  }

  /** The entries of a directory, or the one entry when `path` is a file. */
  list(file: string, path: string, selector: TreeSelector = {}): Promise<TreeEntry[]> {
    return this.withTree(file, selector, async (tree) => {
      const entry = await tree.stat(path);
      if (entry && entry.kind !== 'directory') return [entry];
      return tree.list(path);
    });
  }

  extract(file: string, path: string, dest: string, selector: TreeSelector = {},
    onProgress?: (p: ExtractProgress) => void): Promise<ExtractSummary> {
    return this.withTree(file, selector, (tree) => this.files.extract(tree, path, dest, onProgress));
  }

  private withTree<T>(file: string, selector: TreeSelector, work: (tree: FileSystemTree) => Promise<T>): Promise<T> {
    return this.withSource(file, async (source) => work(await selectTree(await openImage(source), selector)));
  }

  private async withSource<T>(file: string, work: (source: OpenSource) => Promise<T>): Promise<T> {
    const source = await this.files.open(file);
    try {
      return await work(source);
    } finally {
      await source.close();
    }
  }
}
