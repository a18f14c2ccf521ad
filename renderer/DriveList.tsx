import type { DriveDto } from '../preload/contract.js';
import { driveName } from './app-state.js';
import { formatBytes } from '../preload/byte-size.js';

interface Props {
  drives: DriveDto[] | null;
  selectedId: string | null;
  onSelect(id: string): void;
}

/** Every drive the system reports; refused drives stay listed, greyed, with the reason in words. */
export function DriveList({ drives, selectedId, onSelect }: Props) {
  if (drives === null) return <p className="muted">Looking for drives…</p>;
  if (drives.length === 0) return <p className="muted">No drives found. Plug in a USB key.</p>;
  return (
    <>
      <h2 className="drives-title">Drives</h2>
      <ul className="drive-list">
        {drives.map((drive) => (
          <li key={drive.id}>
            <button
              type="button"
              className={`drive${drive.eligible ? '' : ' refused'}`}
              aria-current={drive.id === selectedId ? 'true' : undefined}
              aria-describedby={drive.eligible ? undefined : `refusal-${drive.device.replace(/\W/g, '')}`}
              onClick={() => onSelect(drive.id)}
            >
              <span className="drive-name">{driveName(drive)}</span>
              <span className="drive-facts">
                {formatBytes(drive.size)} · {drive.device}
                {drive.connection ? ` · ${drive.connection.toUpperCase()}` : ''}
              </span>
              {!drive.eligible && (
                <span className="drive-refusal" id={`refusal-${drive.device.replace(/\W/g, '')}`}>
                  Not usable: {drive.refusals.join('; ')}
                </span>
              )}
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}
