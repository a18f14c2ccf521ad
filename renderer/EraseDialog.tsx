import type { DriveDto } from '../preload/contract.js';
import { driveName } from './app-state.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { formatBytes } from '../preload/byte-size.js';
import { partitionFacts, partitionName } from './PartitionBar.js';

interface Props {
  drive: DriveDto;
  label: string;
  onCancel(): void;
  onConfirm(): void;
}

/**
 * The confirmation before anything destructive: names vendor, model, size, device and every partition that will
 * be lost, in the modal confirmation every destructive action uses.
 */
export function EraseDialog({ drive, label, onCancel, onConfirm }: Props) {
  return (
    <ConfirmDialog
      title={`Erase ${driveName(drive)}?`}
      confirmLabel={`Erase ${formatBytes(drive.size)} drive`}
      danger
      onCancel={onCancel}
      onConfirm={onConfirm}
    >
      <dl className="confirm-drive">
        <dt>Vendor</dt>
        <dd>{drive.vendor || 'unknown'}</dd>
        <dt>Model</dt>
        <dd>{drive.model || 'unknown'}</dd>
        <dt>Size</dt>
        <dd>
          {formatBytes(drive.size)} ({drive.size.toLocaleString('en')} bytes)
        </dd>
        <dt>Device</dt>
        <dd>{drive.device}</dd>
      </dl>
      {drive.partitions.length > 0 ? (
        <>
          <p>These partitions and everything on them will be lost:</p>
          <ul className="lost">
            {drive.partitions.map((p) => (
              <li key={p.number}>
                {partitionName(p)} — {partitionFacts(p)}
              </li>
            ))}
          </ul>
        </>
      ) : (
        <p>The drive has no partitions; anything on it will be lost.</p>
      )}
      <p>It will then hold one empty FAT32 partition named {label}.</p>
    </ConfirmDialog>
  );
}
