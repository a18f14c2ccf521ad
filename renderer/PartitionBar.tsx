import type { DriveDto, PartitionDto } from '../preload/contract.js';
import { formatBytes } from '../preload/byte-size.js';

type Segment = { kind: 'partition'; partition: PartitionDto } | { kind: 'free'; offset: number; size: number };

/** Partitions and unallocated space in disk order; gaps up to 1 MiB (alignment) are left out. */
export function segments(drive: DriveDto): Segment[] {
  const result: Segment[] = [];
  let end = 0;
  const gap = (until: number) => {
    if (until - end > 1024 * 1024) result.push({ kind: 'free', offset: end, size: until - end });
  };
  for (const partition of drive.partitions) {
    gap(partition.offset);
    result.push({ kind: 'partition', partition });
    end = Math.max(end, partition.offset + partition.size);
  }
  gap(drive.size);
  return result;
}

export function partitionName(p: PartitionDto): string {
  return `Partition ${p.number}${p.label ? ` “${p.label}”` : ''}`;
}

export function partitionFacts(p: PartitionDto): string {
  const fs = p.fsType ?? 'no known filesystem';
  const used = p.used === null ? 'usage unknown (not mounted)' : `${formatBytes(p.used)} used, ${formatBytes(p.size - p.used)} free`;
  return `${formatBytes(p.size)} · ${fs} · ${used}`;
}

/** The drive drawn to scale: one block per partition (its used part filled) and per unallocated area. */
export function PartitionBar({ drive }: { drive: DriveDto }) {
  const parts = segments(drive);
  const describe = parts
    .map((s) => (s.kind === 'free' ? `${formatBytes(s.size)} unallocated` : `${partitionName(s.partition)}, ${partitionFacts(s.partition)}`))
    .join('; ');
  return (
    <div className="partition-bar" role="img" aria-label={`Layout of the drive: ${describe || 'empty'}`}>
      {parts.map((s) => {
        const size = s.kind === 'free' ? s.size : s.partition.size;
        const key = s.kind === 'free' ? `free-${s.offset}` : `p${s.partition.number}`;
        const width = `${(100 * size) / drive.size}%`;
        if (s.kind === 'free') return <div key={key} className="segment free" style={{ width }} />;
        const used = s.partition.used === null ? 0 : (100 * s.partition.used) / s.partition.size;
        return (
          <div key={key} className="segment partition" style={{ width }}>
            <div className="used" style={{ width: `${used}%` }} />
            <span className="segment-label" aria-hidden="true">
              {s.partition.number}
              {s.partition.label ? ` ${s.partition.label}` : ''}
            </span>
          </div>
        );
      })}
    </div>
  );
}
