import type { ByteSource } from '../../ports/byte-source.js';
import { readExact } from '../byte-source-reads.js';
import { ParseError } from '../errors.js';
import type { FatBootSector } from './boot-sector.js';

/** Contiguous clusters `first … first + count - 1` of one chain. */
export interface ClusterRun {
  first: number;
  count: number;
}

/**
 * Blocks of the FAT read on demand and kept in a small cache: a chain walk touches a few blocks, a free-space
 * count streams the whole FAT once. 96 KiB is a multiple of 3 and 4, so no FAT12 entry pair and no FAT16/32
 * entry straddles two blocks.
 */
const BLOCK_BYTES = 96 * 1024;
const CACHED_BLOCKS = 64;

/** Reads the first FAT copy: cluster chains with loop and bounds checks, and free-cluster counts. */
export class FatTable {
  private readonly fatStart: number;
  /** Bytes of the FAT that map clusters 0 … clusterCount + 1 (the rest of its sectors is padding). */
  private readonly fatBytes: number;
  private readonly endOfChain: number;
  private readonly blocks = new Map<number, Uint8Array>();
  /** One bit per cluster, reused across walks (and replaced by a fresh one while a walk is in progress). */
  private spareVisited?: Uint8Array;

  constructor(
    private readonly source: ByteSource,
    private readonly boot: FatBootSector,
  ) {
    this.fatStart = boot.reservedSectors * boot.bytesPerSector;
    const entries = boot.clusterCount + 2;
    this.fatBytes = boot.fatType === 'FAT12' ? Math.ceil((entries * 3) / 2) : entries * (boot.fatType === 'FAT16' ? 2 : 4);
    this.endOfChain = boot.fatType === 'FAT12' ? 0xff8 : boot.fatType === 'FAT16' ? 0xfff8 : 0x0ffffff8;
  }

  get maxCluster(): number {
    return this.boot.clusterCount + 1;
  }

  /** The FAT's value for `cluster` (FAT32's top four reserved bits cleared). */
  async entry(cluster: number): Promise<number> {
    return this.decode(await this.block(Math.floor(this.byteOffset(cluster) / BLOCK_BYTES)), cluster);
  }

  private byteOffset(cluster: number): number {
    const { fatType } = this.boot;
    return fatType === 'FAT12' ? cluster + (cluster >> 1) : cluster * (fatType === 'FAT16' ? 2 : 4);
  }

  /** The entry of `cluster` from the block that holds it. */
  private decode(block: Uint8Array, cluster: number): number {
    const at = this.byteOffset(cluster) % BLOCK_BYTES;
    const { fatType } = this.boot;
    if (fatType === 'FAT32') {
      return (block[at]! | (block[at + 1]! << 8) | (block[at + 2]! << 16) | (block[at + 3]! << 24)) & 0x0fffffff;
    }
    const word = block[at]! | (block[at + 1]! << 8);
    if (fatType === 'FAT16') return word;
    return cluster & 1 ? word >> 4 : word & 0xfff;
  }

  /** Where the FAT entry of `cluster` is in the source, for error messages. */
  entryOffset(cluster: number): number {
    return this.fatStart + this.byteOffset(cluster);
  }

  /**
   * The first `limit` clusters of the chain from `first`, merged into runs. `complete` tells whether the chain
   * ended (end-of-chain mark) within them. A chain that leaves the volume, reaches a free or bad cluster, or
   * comes back to a cluster it already used is a ParseError at the FAT entry that says so.
   */
  async chain(first: number, limit: number, what: string): Promise<{ runs: ClusterRun[]; clusters: number; complete: boolean }> {
    const runs: ClusterRun[] = [];
    const visited = this.takeVisited();
    let clusters = 0;
    let complete = false;
    try {
      let cluster = first;
      let from = -1;
      while (clusters < limit) {
        if (cluster < 2 || cluster > this.maxCluster) {
          throw new ParseError(`${what}: cluster ${cluster} is outside the volume`, from < 0 ? 0 : this.entryOffset(from));
        }
        const bit = 1 << (cluster & 7);
        if (visited[cluster >> 3]! & bit) throw new ParseError(`${what}: the cluster chain loops at cluster ${cluster}`, this.entryOffset(from));
        visited[cluster >> 3]! |= bit;
        const last = runs[runs.length - 1];
        if (last && last.first + last.count === cluster) last.count += 1;
        else runs.push({ first: cluster, count: 1 });
        clusters += 1;
        const next = await this.entry(cluster);
        if (next >= this.endOfChain) {
          complete = true;
          break;
        }
        if (next === 0) throw new ParseError(`${what}: the cluster chain runs into free cluster ${cluster}`, this.entryOffset(cluster));
        if (next === this.endOfChain - 1) throw new ParseError(`${what}: the cluster chain runs into a bad cluster`, this.entryOffset(cluster));
        from = cluster;
        cluster = next;
      }
      return { runs, clusters, complete };
    } finally {
      for (const run of runs) for (let c = run.first; c < run.first + run.count; c++) visited[c >> 3]! &= ~(1 << (c & 7));
      this.spareVisited = visited;
    }
  }

  /** Clusters marked free (0) in the FAT, block by block (a per-entry await would cost seconds on a big key). */
  async freeClusters(): Promise<number> {
    const { fatType } = this.boot;
    // Whole entries per block: 96 KiB holds 64 Ki FAT12 entries, 48 Ki FAT16 or 24 Ki FAT32 entries.
    const perBlock = fatType === 'FAT12' ? (BLOCK_BYTES / 3) * 2 : BLOCK_BYTES / (fatType === 'FAT16' ? 2 : 4);
    let free = 0;
    for (let first = 0; first <= this.maxCluster; first += perBlock) {
      const block = await this.block(first / perBlock);
      const last = Math.min(this.maxCluster, first + perBlock - 1);
      for (let cluster = Math.max(2, first); cluster <= last; cluster++) if (this.decode(block, cluster) === 0) free += 1;
    }
    return free;
  }

  private takeVisited(): Uint8Array {
    const visited = this.spareVisited ?? new Uint8Array((this.maxCluster >> 3) + 1);
    this.spareVisited = undefined;
    return visited;
  }

  private async block(index: number): Promise<Uint8Array> {
    const cached = this.blocks.get(index);
    if (cached) {
      // Re-inserting keeps the Map in least-recently-used order for eviction.
      this.blocks.delete(index);
      this.blocks.set(index, cached);
      return cached;
    }
    const start = index * BLOCK_BYTES;
    const length = Math.min(BLOCK_BYTES, this.fatBytes - start);
    const bytes = await readExact(this.source, this.fatStart + start, length, 'FAT');
    if (this.blocks.size >= CACHED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
    this.blocks.set(index, bytes);
    return bytes;
  }
}
