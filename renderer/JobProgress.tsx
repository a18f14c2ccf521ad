import { useState } from 'react';
import type { JobProgressDto } from '../preload/contract.js';
import { formatBytes } from '../preload/byte-size.js';

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ${seconds % 60} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

interface Props {
  progress: JobProgressDto | null;
  label: string;
  /** Asks Bootkey to stop the job; without it the job offers no Cancel. */
  onCancel?(): void;
}

/**
 * One running job: phase, file, percent of bytes already durable on the key, rate and time left; and Cancel. A job
 * of several steps (a merge) says which step runs, and its percent when the step counts bytes.
 */
export function JobProgress({ progress, label, onCancel }: Props) {
  const [cancelling, setCancelling] = useState(false);
  const percent = progress && progress.bytesTotal > 0 ? Math.floor((progress.bytesDone / progress.bytesTotal) * 100) : 0;
  // A step that counts no bytes (mksquashfs, e2fsck) shows a bar that only says it is running.
  const counted = progress === null || progress.bytesTotal > 0;
  const step = progress?.step ? `Step ${progress.step.index} of ${progress.step.count}` : undefined;
  return (
    <div className="job-progress" role="status" aria-live="polite">
      <p className="notice-title">{progress ? `${step ? `${step}: ` : ''}${progress.phase}` : `${label}: starting…`}</p>
      {counted
        ? <progress max={100} value={percent} aria-label={`${label}: ${step ? `${step}, ` : ''}${percent}%`} />
        : <progress aria-label={`${label}: ${step ? `${step}, ` : ''}running`} />}
      {!counted && <p className="muted">Working; this can take several minutes.</p>}
      {progress && counted && (
        <p className="muted">
          {percent}% · {formatBytes(progress.bytesDone)} of {formatBytes(progress.bytesTotal)}{step ? '' : ' on the key'} ·{' '}
          {progress.rate > 0 ? `${formatBytes(progress.rate)}/s · ${duration(progress.etaSeconds)} left` : 'measuring the speed…'}
          {!progress.phase.includes(progress.file) && (
            <>
              <br />
              <span className="file-name">{progress.file}</span>
            </>
          )}
        </p>
      )}
      {onCancel && (
        <p>
          <button type="button" className="secondary" disabled={cancelling} onClick={() => {
            setCancelling(true);
            onCancel();
          }}>
            {cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        </p>
      )}
    </div>
  );
}
