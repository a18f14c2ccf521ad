import { useEffect, useRef } from 'react';
import type { DriveDto } from '../preload/contract.js';
import { driveName } from './app-state.js';
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
 * be lost. A modal <dialog>: focus stays inside, Escape cancels, and Cancel (focused first) writes nothing.
 */
export function EraseDialog({ drive, label, onCancel, onConfirm }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const element = dialog.current;
    element?.showModal();
    return () => element?.close();
  }, []);
  return (
    <dialog
      ref={dialog}
      className="confirm"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-what"
      onCancel={(event) => {
        event.preventDefault();
        onCancel();
      }}
    >
      <h2 id="confirm-title">Erase {driveName(drive)}?</h2>
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
      <div id="confirm-what">
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
      </div>
      <div className="dialog-buttons">
        <button type="button" className="secondary" autoFocus onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="danger" onClick={onConfirm}>
          Erase {formatBytes(drive.size)} drive
        </button>
      </div>
    </dialog>
  );
}
