import { useEffect, useState } from 'react';
import type { ApiError, DriveDto, KeySummaryDto } from '../preload/contract.js';
import { formatBytes } from '../preload/byte-size.js';
import { api } from './api.js';
import { NoticeBanner } from './NoticeBanner.js';
import { counted } from '../preload/counted.js';

const total = (files: { size: number }[]) => files.reduce((sum, f) => sum + f.size, 0);

/**
 * What Bootkey put on this key, from the key itself: the copy-EFI manifest (with undo), the ISO library and the
 * LiveOS persistence files. Read again whenever `revision` changes (an action on the key finished).
 */
export function KeySummary({ drive, revision, onChanged }: { drive: DriveDto; revision: number; onChanged(): void }) {
  const [summary, setSummary] = useState<KeySummaryDto | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [undoing, setUndoing] = useState(false);
  const [undone, setUndone] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    void api.keySummary(drive.id).then((result) => {
      if (!current) return;
      if (result.ok) {
        setSummary(result.value);
        setError(null);
      } else setError(result.error);
    });
    return () => {
      current = false;
    };
  }, [drive.id, revision]);

  const undo = async () => {
    setUndoing(true);
    setUndone(null);
    const result = await api.undoEfi(drive.id);
    setUndoing(false);
    if (!result.ok) setError(result.error);
    else setUndone(`Removed ${counted(result.value.removed.length, 'file')} Bootkey copied${result.value.restored.length ? `, restored ${result.value.restored.length} of yours` : ''}.`
      + (result.value.kept.length ? ` Kept because they changed since: ${result.value.kept.join(', ')}.` : ''));
    onChanged();
  };

  const persistence = summary?.persistence.flatMap((found) => found.files.map((f) => ({ ...f, dir: found.dir }))) ?? [];
  const nothing = summary && summary.operations.length === 0 && summary.isos.isos.length === 0 && persistence.length === 0 && !summary.manifestProblem;
  return (
    <section className="key-summary" aria-labelledby="summary-title">
      <h3 id="summary-title">What Bootkey put on this key</h3>
      {error && <NoticeBanner notice={{ kind: 'error', error }} onDismiss={() => setError(null)} />}
      {undone && (
        <div className="result" role="status">
          <p className="notice-title">{undone}</p>
        </div>
      )}
      {!summary && !error && <p className="muted">Reading the key…</p>}
      {nothing && <p>Nothing: Bootkey has not added anything to this key.</p>}
      {summary?.manifestProblem && <p>Bootkey’s record of copied boot files could not be read: {summary.manifestProblem}</p>}
      {summary && summary.operations.length > 0 && (
        <div className="summary-group">
          <h4>UEFI boot files copied from an image</h4>
          <ul>
            {summary.operations.map((op) => (
              <li key={op.id}>
                <p>
                  From <span className="file-name">{op.source}</span>: {counted(op.files.length, 'file')}, {formatBytes(total(op.files))}
                  {op.state === 'writing' ? ' — interrupted before it finished (undo removes what was written)' : ''}
                </p>
                {op.replaced.length > 0 && (
                  <p className="muted">
                    Your {op.replaced.map((r) => r.path).join(', ')} {op.replaced.length === 1 ? 'is' : 'are'} kept in /.bootkey/backup until undo.
                  </p>
                )}
                <details>
                  <summary>Files</summary>
                  <ul className="file-list">
                    {op.files.map((f) => (
                      <li key={f.path}>
                        <span className="file-name">{f.path}</span> — {formatBytes(f.size)}
                      </li>
                    ))}
                  </ul>
                </details>
              </li>
            ))}
          </ul>
          <button type="button" className="secondary" disabled={undoing} onClick={() => void undo()}>
            {undoing ? 'Removing…' : summary.operations.length === 1 ? 'Undo: remove these boot files' : `Undo: remove the boot files of all ${summary.operations.length} copies`}
          </button>
        </div>
      )}
      {summary && summary.isos.isos.length > 0 && (
        <div className="summary-group">
          <h4>ISO library (/isos), {formatBytes(total(summary.isos.isos))}</h4>
          <ul>
            {summary.isos.isos.map((iso) => (
              <li key={iso.name}>
                <span className="file-name">{iso.name}</span> — {formatBytes(iso.size)}
              </li>
            ))}
          </ul>
        </div>
      )}
      {persistence.length > 0 && (
        <div className="summary-group">
          <h4>Live system persistence</h4>
          <ul>
            {persistence.map((f) => (
              <li key={`${f.dir}/${f.name}`}>
                <span className="file-name">{f.dir}/{f.name}</span> — {formatBytes(f.sizeBytes)}
                {f.usage ? `, ${formatBytes(f.usage.usedBytes)} in use` : f.luks ? ', encrypted' : ', unreadable'}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
