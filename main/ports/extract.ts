/** Progress of copying files out of an image. */
export interface ExtractProgress {
  bytesDone: number;
  bytesTotal: number;
  path: string;
}

export interface ExtractSummary {
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
}
