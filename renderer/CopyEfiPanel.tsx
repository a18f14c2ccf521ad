import { useEffect, useReducer } from 'react';
import type { DriveDto, ImageInfoDto } from '../preload/contract.js';
import { formatBytes } from '../preload/byte-size.js';
import { api, filePaths, newJobId } from './api.js';
import { initialCopyEfiState, isBusy, reduceCopyEfi, type CopyEfiStep } from './copy-efi-state.js';
import { ERROR_TEXT } from './error-text.js';
import { FilePicker } from './FilePicker.js';
import { JobProgress } from './JobProgress.js';
import { NoticeBanner } from './NoticeBanner.js';
import { counted } from '../preload/counted.js';

const files = (n: number) => counted(n, 'file');

const ACTION_WORDS = { add: 'new', 'overwrite-own': 'replaces an earlier Bootkey copy', 'replace-user': 'your file moves to /.bootkey/backup' };

/** Copy-EFI on one key: choose an image → its plan → confirm → progress → what was verified; and undo. */
export function CopyEfiPanel({ drive, onChanged }: { drive: DriveDto; onChanged(): void }) {
  const [state, dispatch] = useReducer(reduceCopyEfi, initialCopyEfiState);
  const { step, error } = state;

  useEffect(() => api.on('jobProgress', (progress) => dispatch({ type: 'progress', progress })), []);

  const plan = async (image: ImageInfoDto, replace: boolean) => {
    dispatch({ type: 'working', what: 'Planning the copy…' });
    const planned = await api.planCopyEfi({ driveId: drive.id, source: image.path, replace, jobId: newJobId() });
    dispatch(planned.ok ? { type: 'planned', image, plan: planned.value, replace } : { type: 'failed', error: planned.error });
  };

  const choose = async (chosen: File[]) => {
    const [file] = chosen;
    if (!file) return;
    dispatch({ type: 'working', what: `Looking inside ${file.name}…` });
    const paths = await filePaths([file]);
    if (!paths.ok) return dispatch({ type: 'failed', error: paths.error });
    const inspected = await api.inspectImage(paths.value[0] ?? '');
    if (!inspected.ok) return dispatch({ type: 'failed', error: inspected.error });
    await plan(inspected.value, false);
  };

  const run = async (image: ImageInfoDto, replace: boolean) => {
    const jobId = newJobId();
    dispatch({ type: 'running', image, jobId });
    const result = await api.copyEfi({ driveId: drive.id, source: image.path, replace, jobId });
    dispatch(result.ok ? { type: 'done', result: result.value } : { type: 'failed', error: result.error });
    onChanged();
  };

  const undo = async () => {
    dispatch({ type: 'working', what: 'Removing the boot files Bootkey added…' });
    const result = await api.undoEfi(drive.id);
    dispatch(result.ok ? { type: 'undone', undo: result.value } : { type: 'failed', error: result.error });
    onChanged();
  };

  const busy = isBusy(state);
  return (
    <section className="action" aria-labelledby="copy-efi-title">
      <h4 id="copy-efi-title" className="action-title">Make bootable from an ISO or image — keeps your files</h4>
      <p className="muted">Copies an image’s UEFI boot files onto the key beside your files. Nothing of yours is overwritten without asking; undo takes it all back.</p>
      {error && <NoticeBanner notice={{ kind: 'error', error }} onDismiss={() => dispatch({ type: 'dismiss' })} />}
      {(step.kind === 'idle' || step.kind === 'done' || step.kind === 'undone') && (
        <FilePicker label="Choose an image…" accept=".iso,.img,.raw,application/x-iso9660-image" multiple={false} disabled={busy} onFiles={(f) => void choose(f)}>
          <p>Drop an ISO or disk image here, or choose one.</p>
        </FilePicker>
      )}
      {step.kind === 'working' && (
        <p role="status" className="muted">
          {step.what}
        </p>
      )}
      {step.kind === 'planned' && <PlanView step={step} onReplace={(r) => void plan(step.image, r)} onCancel={() => dispatch({ type: 'cancel' })} onConfirm={() => void run(step.image, step.replace)} />}
      {step.kind === 'running' && (
        <JobProgress key={step.jobId} progress={step.progress} label={`Copying from ${step.image.name}`} onCancel={() => void api.cancelJob(step.jobId)} />
      )}
      {step.kind === 'done' && (
        <div className="result" role="status">
          <p className="notice-title">
            Done: the key now starts {step.result.plan.source.slice(step.result.plan.source.lastIndexOf('/') + 1)} on UEFI computers.
          </p>
          <p>
            Verified: {files(step.result.verifiedFiles)}, {formatBytes(step.result.verifiedBytes)} — each flushed to the key, read back and
            compared with its SHA-256. Your own files were not touched.
          </p>
        </div>
      )}
      {step.kind === 'undone' && (
        <div className="result" role="status">
          <p className="notice-title">
            Undone: removed {files(step.undo.removed.length)} Bootkey added{step.undo.restored.length ? `, restored ${step.undo.restored.length} of yours` : ''}.
          </p>
          {step.undo.kept.length > 0 && <p>Kept because they changed since: {step.undo.kept.join(', ')}</p>}
        </div>
      )}
      {!busy && step.kind !== 'planned' && (
        <p>
          <button type="button" className="secondary" onClick={() => void undo()}>
            Undo: remove the boot files Bootkey added
          </button>
        </p>
      )}
    </section>
  );
}

interface PlanProps {
  step: Extract<CopyEfiStep, { kind: 'planned' }>;
  onReplace(replace: boolean): void;
  onCancel(): void;
  onConfirm(): void;
}

function PlanView({ step, onReplace, onCancel, onConfirm }: PlanProps) {
  const { image, plan, replace } = step;
  return (
    <div className="plan">
      <p className="notice-title">
        {image.name} ({image.format}, {image.family}, {formatBytes(image.size)})
      </p>
      <p>
        Boot files from {plan.loaderSource}: {files(plan.files.length)}, {formatBytes(plan.bytes)}. The key needs {formatBytes(plan.requiredBytes)} free and
        has {formatBytes(plan.freeBytes)}.
      </p>
      {plan.problems.map((p) => (
        <div key={p.message} className="notice notice-error" role="alert">
          <div>
            <p className="notice-title">{ERROR_TEXT[p.code].title}</p>
            <p>{p.message}</p>
            <p>
              <strong>What to do:</strong> {ERROR_TEXT[p.code].next}
            </p>
          </div>
        </div>
      ))}
      {plan.conflicts.length > 0 && (
        <label className="check">
          <input type="checkbox" checked={replace} onChange={(event) => onReplace(event.target.checked)} />
          Replace {files(plan.conflicts.length)} of mine ({plan.conflicts.map((c) => c.path).join(', ')}) and keep the originals in /.bootkey/backup
        </label>
      )}
      {plan.warnings.map((w) => (
        <p key={w}>Note: {w}</p>
      ))}
      <details>
        <summary>Files it will write</summary>
        <ul className="file-list">
          {plan.files.map((f) => (
            <li key={f.path}>
              <span className="file-name">{f.path}</span> — {formatBytes(f.size)}, {ACTION_WORDS[f.action]}
            </li>
          ))}
        </ul>
      </details>
      <div className="dialog-buttons">
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
        {plan.problems.length === 0 && (
          <button type="button" className="primary" onClick={onConfirm}>
            Copy {files(plan.files.length)}
          </button>
        )}
      </div>
    </div>
  );
}
