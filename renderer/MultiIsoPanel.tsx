import { useCallback, useEffect, useId, useState } from 'react';
import type { ApiError, ApiResult, DriveDto, IsoLibraryDto, IsoMenuChanges, JobProgressDto } from '../preload/contract.js';
import { formatBytes } from '../preload/byte-size.js';
import { api, filePaths, newJobId } from './api.js';
import { FilePicker } from './FilePicker.js';
import { JobProgress } from './JobProgress.js';
import { NoticeBanner } from './NoticeBanner.js';

/** Files dropped onto the key view, numbered so the same files dropped twice are two requests. */
export interface DroppedFiles {
  files: File[];
  seq: number;
}

interface Props {
  drive: DriveDto;
  dropped: DroppedFiles | null;
  /** Told when the key's files changed. */
  onChanged(): void;
}

/** The multi-ISO key: prepare it, add ISO files (dropped onto the key view or chosen), list and remove them. */
export function MultiIsoPanel({ drive, dropped, onChanged }: Props) {
  const [library, setLibrary] = useState<IsoLibraryDto | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [job, setJob] = useState<string | null>(null);
  const [progress, setProgress] = useState<JobProgressDto | null>(null);
  const [done, setDone] = useState<string | null>(null);
  /** The id of a running prepare (cancellable until GRUB's files are in place). */
  const [preparing, setPreparing] = useState<string | null>(null);

  const settle = useCallback((result: ApiResult<IsoLibraryDto>, text?: string) => {
    setBusy(null);
    setJob(null);
    if (!result.ok) return setError(result.error);
    setLibrary(result.value);
    if (text) {
      setDone(text);
      onChanged();
    }
  }, [onChanged]);

  useEffect(() => {
    setLibrary(null);
    void api.listIsos(drive.id).then((r) => settle(r));
  }, [drive.id, settle]);

  useEffect(() => {
    if (job === null) return undefined;
    return api.on('jobProgress', (p) => {
      if (p.jobId === job) setProgress(p);
    });
  }, [job]);

  const add = useCallback(async (files: File[]) => {
    setError(null);
    setDone(null);
    const isos = files.filter((f) => /\.(iso|img)$/i.test(f.name));
    if (isos.length === 0) {
      return setError({ code: 'UNSUPPORTED_IMAGE', message: `${files.map((f) => f.name).join(', ')}: only .iso and .img files go into the library.` });
    }
    const paths = await filePaths(isos);
    if (!paths.ok) return setError(paths.error);
    const jobId = newJobId();
    setProgress(null);
    setJob(jobId);
    setBusy(`Adding ${isos.length} ISO file(s)`);
    settle(await api.addIsos({ driveId: drive.id, files: paths.value, jobId }), `Added ${isos.map((f) => f.name).join(' and ')}; each was read back and its SHA-256 recorded.`);
  }, [drive.id, settle]);

  useEffect(() => {
    if (dropped && library?.prepared) void add(dropped.files);
    else if (dropped) setError({ code: 'NOT_FOUND', message: 'This key is not a multi-ISO key yet: prepare it first, then drop the ISO files again.' });
  }, [dropped?.seq]); // only a new drop starts a job

  const act = async (what: string, work: () => Promise<ApiResult<IsoLibraryDto>>, text: string) => {
    setError(null);
    setDone(null);
    setBusy(what);
    settle(await work(), text);
  };

  const prepare = async () => {
    setError(null);
    setBusy('Installing GRUB beside your files…');
    const jobId = newJobId();
    setPreparing(jobId);
    const prepared = await api.prepareMultiIso(drive.id, jobId);
    setPreparing(null);
    if (!prepared.ok) {
      setBusy(null);
      return setError(prepared.error);
    }
    const { bios, warnings } = prepared.value;
    settle(await api.listIsos(drive.id), `Prepared: UEFI${bios ? ' and BIOS' : ''} computers show a menu of the ISO files.${warnings.length ? ` Note: ${warnings.join('; ')}` : ''}`);
  };

  return (
    <section className="action" aria-labelledby="multi-iso-title">
      <h4 id="multi-iso-title" className="action-title">Multi-ISO key</h4>
      <p className="muted">Boots several ISO files from one key through a GRUB menu. Drop ISO files anywhere on this key’s view.</p>
      {error && <NoticeBanner notice={{ kind: 'error', error }} onDismiss={() => setError(null)} />}
      {done && (
        <div className="result" role="status">
          <p className="notice-title">{done}</p>
        </div>
      )}
      {job !== null && <JobProgress key={job} progress={progress} label={busy ?? 'Adding ISO files'} onCancel={() => void api.cancelJob(job)} />}
      {busy !== null && job === null && (
        <p role="status" className="muted">
          {busy}
        </p>
      )}
      {preparing !== null && (
        <p>
          <button type="button" className="secondary" onClick={() => void api.cancelJob(preparing)}>
            Cancel
          </button>
        </p>
      )}
      {library === null && busy === null && !error && <p className="muted">Reading the key…</p>}
      {library && !library.prepared && (
        <p>
          <button type="button" className="primary" disabled={busy !== null} onClick={() => void prepare()}>
            Prepare as a multi-ISO key (keeps your files)
          </button>
        </p>
      )}
      {library?.prepared && (
        <>
          <FilePicker label="Choose ISO files…" accept=".iso,.img" multiple disabled={busy !== null} onFiles={(f) => void add(f)}>
            <p>Drop ISO files here or anywhere on this key, or choose them.</p>
          </FilePicker>
          {library.isos.length === 0 ? (
            <p>The library is empty.</p>
          ) : (
            <table className="partitions iso-library" aria-label="ISO library">
              <thead>
                <tr>
                  <th scope="col">ISO</th>
                  <th scope="col">Family</th>
                  <th scope="col">Size</th>
                  <th scope="col">Verified</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {library.isos.map((iso) => (
                  <tr key={iso.name}>
                    <td className="file-name">{iso.name}</td>
                    <td>{iso.family}</td>
                    <td className="nowrap">{formatBytes(iso.size)}</td>
                    <td>{iso.verified ? 'yes (SHA-256 matches)' : 'NO — copy it again'}</td>
                    <td>
                      <button
                        type="button"
                        className="secondary"
                        disabled={busy !== null}
                        aria-label={`Remove ${iso.name}`}
                        onClick={() => void act(`Removing ${iso.name}`, () => api.removeIsos(drive.id, [iso.name]), `Removed ${iso.name}.`)}
                      >
                        Remove
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {library.isos.length > 0 && <MenuForm key={library.isos.map((i) => `${i.name}=${i.title}`).join('|')} library={library} busy={busy !== null}
            onSave={(changes) => void act('Saving the menu', () => api.setIsoMenu(drive.id, changes), 'The boot menu was saved.')} />}
        </>
      )}
    </section>
  );
}

/** The boot menu's settings: each ISO's place and title, the default entry and the timeout (left empty: unchanged). */
function MenuForm({ library, busy, onSave }: { library: IsoLibraryDto; busy: boolean; onSave(changes: IsoMenuChanges): void }) {
  const [titles, setTitles] = useState(() => Object.fromEntries(library.isos.map((i) => [i.name, i.title])));
  const [order, setOrder] = useState(() => library.isos.map((i) => i.name));
  const [defaultName, setDefaultName] = useState('');
  const [timeout, setTimeoutValue] = useState('');
  const id = useId();
  const timeoutOk = timeout === '' || (/^-?\d+$/.test(timeout) && Number(timeout) >= -1 && Number(timeout) <= 3600);
  const titlesOk = Object.values(titles).every((t) => t.trim().length > 0 && t.length <= 200);
  const reordered = order.some((name, index) => library.isos[index]?.name !== name);
  const move = (index: number, by: -1 | 1) => {
    const next = [...order];
    [next[index], next[index + by]] = [next[index + by]!, next[index]!];
    setOrder(next);
  };
  return (
    <form
      className="menu-form"
      onSubmit={(event) => {
        event.preventDefault();
        const changed = Object.fromEntries(library.isos.filter((i) => titles[i.name] !== i.title).map((i) => [i.name, titles[i.name]!.trim()]));
        onSave({
          ...(Object.keys(changed).length ? { titles: changed } : {}),
          ...(reordered ? { order } : {}),
          ...(defaultName ? { defaultName } : {}),
          ...(timeout !== '' ? { timeoutSeconds: Number(timeout) } : {}),
        });
      }}
    >
      <fieldset>
        <legend>Boot menu</legend>
        {order.map((name, index) => (
          <div className="field" key={name}>
            <label htmlFor={`${id}-title-${index}`}>
              Title for <span className="file-name">{name}</span>
            </label>
            <div className="menu-entry">
              <input id={`${id}-title-${index}`} value={titles[name] ?? ''} maxLength={200} disabled={busy}
                aria-invalid={!(titles[name] ?? '').trim()} onChange={(e) => setTitles({ ...titles, [name]: e.target.value })} />
              <button type="button" className="secondary" aria-label={`Move ${name} up`} disabled={busy || index === 0}
                onClick={() => move(index, -1)}>↑</button>
              <button type="button" className="secondary" aria-label={`Move ${name} down`} disabled={busy || index === order.length - 1}
                onClick={() => move(index, 1)}>↓</button>
            </div>
          </div>
        ))}
        <div className="field">
          <label htmlFor={`${id}-default`}>Starts by default</label>
          <select id={`${id}-default`} value={defaultName} disabled={busy} onChange={(e) => setDefaultName(e.target.value)}>
            <option value="">(unchanged)</option>
            {library.isos.map((iso) => (
              <option key={iso.name} value={iso.name}>
                {iso.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-timeout`}>Seconds before it starts (-1 waits; empty: unchanged)</label>
          <input id={`${id}-timeout`} type="number" min={-1} max={3600} step={1} value={timeout} disabled={busy} aria-invalid={!timeoutOk}
            onChange={(e) => setTimeoutValue(e.target.value)} />
        </div>
        <button type="submit" className="secondary" disabled={busy || !timeoutOk || !titlesOk}>
          Save menu
        </button>
      </fieldset>
    </form>
  );
}
