import { useCallback, useEffect, useId, useState } from 'react';
import type {
  ApiError, ApiResult, DriveDto, JobProgressDto, LiveInstallationDto, OverlayTypeDto, PersistenceFileDto, PersistenceUsageDto, RecoverPersistenceDto,
} from '../preload/contract.js';
import { formatBytes } from '../preload/byte-size.js';
import { api, newJobId } from './api.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { JobProgress } from './JobProgress.js';
import { NoticeBanner } from './NoticeBanner.js';
import { counted } from '../preload/counted.js';

const MiB = 1024 * 1024;
const blocks = (n: number) => counted(n, 'block');

/** Each state in words, with what the user can do about it. */
const STATE_WORDS: Record<PersistenceUsageDto['state'], string> = {
  new: 'New: nothing kept yet',
  valid: 'Valid',
  overflow: 'Overflow: full, the live system can keep no more changes',
  invalid: 'Invalid: the live system will not use it',
};

function kindWords(file: PersistenceFileDto): string {
  if (file.role === 'home') return `home.img: the live system’s /home${file.luks ? ', encrypted' : ''} · ${formatBytes(file.sizeBytes)} on the key`;
  const onKey = ` · ${formatBytes(file.sizeBytes)} on the key`;
  if (file.usage?.kind === 'dm-snapshot') return `Overlay (device-mapper snapshot: the live image’s changed blocks)${onKey}`;
  if (file.usage?.kind === 'overlayfs-ext4') return `Overlay (OverlayFS in an ext4 image: the changed files)${onKey}`;
  return `Overlay${onKey}`;
}

/** An encrypted home.img: what it is, and what that means at every start. */
function LuksFacts({ luks }: { luks: NonNullable<PersistenceFileDto['luks']> }) {
  return (
    <>
      <p>
        <strong>Encrypted</strong> (LUKS{luks.version}, {luks.cipher}) · {formatBytes(luks.dataBytes)} encrypted · the live system asks for its passphrase at every start.
        How full it is cannot be read while it is locked.
      </p>
      {luks.unfinished && <p className="state-invalid">Its encryption was started and not finished: the live system cannot open it. Delete it and create it again.</p>}
    </>
  );
}

/** What a reset throws away, in words a user recognises. */
function lostWords(file: PersistenceFileDto): string {
  return file.role === 'home'
    ? 'every file the live system saved in /home (documents, downloads, settings of each user)'
    : 'every change the live system kept outside /home: installed programs and updates, system settings, saved network passwords, files saved outside /home';
}

type Asking = { kind: 'reset' | 'recover' | 'merge' | 'delete'; file: PersistenceFileDto; dir: string };

/** What a dm overlay's filesystem check after a recovery means for the user. */
const OVERLAY_VERDICT_WORDS: Record<NonNullable<RecoverPersistenceDto['overlayVerdict']> | 'unchecked', string> = {
  clean: ' Its filesystem checks clean.',
  repairable: ' Its filesystem has errors that can be repaired: merge it into the live image (the merge repairs them), or reset it.',
  'beyond-repair': ' Its filesystem is beyond repair: reset it (what was written to it is lost).',
  unchecked: ' Its filesystem could not be checked here: check the live system’s files after the next start.',
};

/** LiveOS persistence on one key: each overlay's and home.img's usage, and create, grow, reset, recover, merge. */
export function PersistencePanel({ drive, onChanged }: { drive: DriveDto; onChanged(): void }) {
  const [installations, setInstallations] = useState<LiveInstallationDto[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [asking, setAsking] = useState<Asking | null>(null);
  const [job, setJob] = useState<string | null>(null);
  const [progress, setProgress] = useState<JobProgressDto | null>(null);

  const reload = useCallback(async () => {
    const listed = await api.listPersistence(drive.id);
    if (listed.ok) setInstallations(listed.value);
    else setError(listed.error);
  }, [drive.id]);

  useEffect(() => {
    setInstallations(null);
    void reload();
  }, [reload]);

  useEffect(() => {
    if (job === null) return undefined;
    return api.on('jobProgress', (p) => {
      if (p.jobId === job) setProgress(p);
    });
  }, [job]);

  /** Runs one action; on success says what was done and lists the key again. */
  const act = async <T,>(what: string, work: () => Promise<ApiResult<T>>, text: (value: T) => string) => {
    setError(null);
    setDone(null);
    setBusy(what);
    const result = await work();
    await reload(); // the files as they are now, before the words about them
    setBusy(null);
    setJob(null);
    if (!result.ok) setError(result.error);
    else setDone(text(result.value));
    onChanged();
  };

  const confirm = (ask: Asking) => {
    setAsking(null);
    const { file } = ask;
    if (ask.kind === 'reset') {
      void act(`Resetting ${file.name}…`, () => api.resetPersistence(drive.id, file.keyPath), () => `${file.name} was reset: it is empty now.`);
    } else if (ask.kind === 'delete') {
      void act(`Deleting ${file.name}…`, () => api.deletePersistence(drive.id, [file.keyPath]), (r) =>
        `Deleted ${r.removed.join(', ')}.${r.bootEntries.some((b) => b.entries > 0) ? ` Its kernel parameters were taken out of ${r.bootEntries.filter((b) => b.entries > 0).map((b) => b.file).join(', ')}.` : ''}`);
    } else if (ask.kind === 'recover') {
      void act(`Recovering ${file.name}…`, () => api.recoverPersistence(drive.id, file.keyPath), (r) =>
        `${file.name} is ${r.file.usage ? STATE_WORDS[r.file.usage.state].split(':')[0]!.toLowerCase() : 'unreadable'} again. Its old header is saved as ${r.backup}.`
        + (r.fsckExitCode !== null ? ` e2fsck: ${r.fsckExitCode === 0 ? 'clean' : 'errors corrected'}.` : OVERLAY_VERDICT_WORDS[r.overlayVerdict ?? 'unchecked'])
        + (r.overlayNotChecked ? ` (${r.overlayNotChecked})` : ''));
    } else {
      const jobId = newJobId();
      setProgress(null);
      setJob(jobId);
      void act(`Merging ${file.name}`, () => api.mergePersistence({ driveId: drive.id, file: file.keyPath, jobId }), (r) =>
        `Merged ${blocks(r.changedChunks)} changed into ${ask.dir}/squashfs.img (${formatBytes(r.oldSquashfsBytes)} → ${formatBytes(r.newSquashfsBytes)}), `
        + `verified by SHA-256; ${file.name} was reset.`);
    }
  };

  return (
    <section className="action" aria-labelledby="persistence-title">
      <h4 id="persistence-title" className="action-title">Live system persistence</h4>
      <p className="muted">Keeps what you change in a Fedora-style live system (LiveOS folder) between starts: an overlay file for the system, home.img for /home.</p>
      {error && <NoticeBanner notice={{ kind: 'error', error }} onDismiss={() => setError(null)} />}
      {done && (
        <div className="result" role="status">
          <p className="notice-title">{done}</p>
        </div>
      )}
      {job !== null && <JobProgress key={job} progress={progress} label={busy ?? 'Merging'} onCancel={() => void api.cancelJob(job)} />}
      {busy !== null && job === null && (
        <p role="status" className="muted">
          {busy}
        </p>
      )}
      {installations === null && !error && <p className="muted">Reading the key…</p>}
      {installations?.length === 0 && <p>There is no LiveOS folder on this key: persistence is for a key that starts a live system from one.</p>}
      {installations?.map((found) => (
        <div key={`${found.dir}/${found.iso ?? ''}`} className="live-installation">
          <p>
            {found.kind === 'extracted' ? (
              <>
                <span className="file-name">{found.dir}</span> holds {[found.squashfs && 'squashfs.img', found.rootfs && 'rootfs.img'].filter(Boolean).join(' and ') || 'no live image'}.
              </>
            ) : found.iso ? (
              <>
                The live ISO <span className="file-name">{found.dir}/{found.iso}</span> of the multi-ISO library.
              </>
            ) : (
              <>
                Overlays in <span className="file-name">{found.dir}</span> whose ISO is no longer on the key.
              </>
            )}
          </p>
          {found.files.length === 0 ? (
            <p>No overlay or home.img yet: changes made in the live system are lost at shutdown.</p>
          ) : (
            <ul className="persistence-files">
              {found.files.map((file) => (
                <PersistenceFile key={file.name} file={file} canMerge={found.squashfs} busy={busy !== null}
                  onAsk={(kind) => setAsking({ kind, file, dir: found.dir })}
                  onGrow={(size) => void act(`Growing ${file.name}…`, () => api.growPersistence(drive.id, file.keyPath, size),
                    (f) => `${file.name} now holds ${formatBytes(f.usage?.capacityBytes ?? size)}.`)} />
              ))}
            </ul>
          )}
          {(found.squashfs || found.rootfs || found.iso !== null) && !found.files.some((f) => f.matchesKey) && (
            <CreateForm busy={busy !== null} offerHome={found.kind === 'extracted' && !found.files.some((f) => f.role === 'home')}
              onCreate={(type, size, home) => void act(home?.passphrase !== undefined ? 'Creating the overlay and the encrypted home.img (this takes a while)…' : 'Creating the overlay…',
                () => api.createPersistence({
                  driveId: drive.id, type, size, ...(found.iso !== null ? { image: found.iso } : {}),
                  ...(home ? { homeSize: home.size } : {}), ...(home?.passphrase !== undefined ? { homePassphrase: home.passphrase } : {}),
                }),
                createdWords)} />
          )}
        </div>
      ))}
      {asking && <AskDialog asking={asking} onCancel={() => setAsking(null)} onConfirm={() => confirm(asking)} />}
    </section>
  );
}

function UsageMeter({ file, usage }: { file: PersistenceFileDto; usage: PersistenceUsageDto }) {
  const percent = Math.min(100, Math.max(0, usage.percentUsed));
  return (
    <div className="usage">
      <meter min={0} max={100} low={70} high={90} optimum={0} value={percent} aria-label={`${file.name}: ${percent}% used`} />
      <p>
        <strong>{percent}% used</strong> · {formatBytes(usage.usedBytes)} of {formatBytes(usage.capacityBytes)} · <span className={`state state-${usage.state}`}>{STATE_WORDS[usage.state]}</span>
        {usage.clean === false && ' · not cleanly shut down'}
        {usage.changedChunks !== undefined && usage.changedChunks > 0 && ` · ${blocks(usage.changedChunks)} changed`}
      </p>
    </div>
  );
}

interface FileProps {
  file: PersistenceFileDto;
  canMerge: boolean;
  busy: boolean;
  onAsk(kind: Asking['kind']): void;
  onGrow(size: number): void;
}

function PersistenceFile({ file, canMerge, busy, onAsk, onGrow }: FileProps) {
  const [growing, setGrowing] = useState(false);
  const { usage } = file;
  const mergeable = canMerge && file.role === 'overlay' && usage?.kind === 'dm-snapshot' && usage.state === 'valid' && (usage.changedChunks ?? 0) > 0;
  return (
    <li className="persistence-file">
      <p className="notice-title">
        <span className="file-name">{file.name}</span>
        {file.matchesKey && <span className="muted"> (the overlay this key starts with)</span>}
      </p>
      <p className="muted">{kindWords(file)}</p>
      {usage ? <UsageMeter file={file} usage={usage} /> : file.luks ? <LuksFacts luks={file.luks} /> : <p>Unreadable: {file.problem}</p>}
      {file.kernel.map((k) => (
        <p key={k.device}>In use by the running live system ({k.device}); the kernel says: {k.status}</p>
      ))}
      {usage?.state === 'overflow' && <p>What to do: grow it{usage.kind === 'dm-snapshot' ? ', or merge it into the live image' : ''}, or reset it.</p>}
      {usage?.state === 'invalid' && <p>What to do: recover it (its header is saved first), or reset it.</p>}
      <div className="file-actions">
        {usage && !growing && (
          <button type="button" className="secondary" disabled={busy} aria-label={`Grow ${file.name}…`} onClick={() => setGrowing(true)}>
            Grow…
          </button>
        )}
        {!file.encrypted && (
          <button type="button" className="secondary" disabled={busy} aria-label={`Reset ${file.name}…`} onClick={() => onAsk('reset')}>
            Reset…
          </button>
        )}
        {usage?.state === 'invalid' && (
          <button type="button" className="secondary" disabled={busy} aria-label={`Recover ${file.name}…`} onClick={() => onAsk('recover')}>
            Recover…
          </button>
        )}
        <button type="button" className="secondary" disabled={busy} aria-label={`Delete ${file.name}…`} onClick={() => onAsk('delete')}>
          Delete…
        </button>
        {mergeable && (
          <button type="button" className="secondary" disabled={busy} aria-label={`Merge into the live image: ${file.name}…`} onClick={() => onAsk('merge')}>
            Merge into the live image…
          </button>
        )}
      </div>
      {growing && usage && (
        <GrowForm file={file} usage={usage} busy={busy} onCancel={() => setGrowing(false)} onGrow={(size) => {
          setGrowing(false);
          onGrow(size);
        }} />
      )}
    </li>
  );
}

/** A whole number of MiB from a form field, or undefined. */
function mebibytes(text: string): number | undefined {
  return /^\d{1,7}$/.test(text) && Number(text) > 0 ? Number(text) * MiB : undefined;
}

function GrowForm({ file, usage, busy, onCancel, onGrow }: { file: PersistenceFileDto; usage: PersistenceUsageDto; busy: boolean; onCancel(): void; onGrow(size: number): void }) {
  const id = useId();
  const current = Math.ceil(usage.capacityBytes / MiB);
  const [size, setSize] = useState(String(current + 512));
  const bytes = mebibytes(size);
  const ok = bytes !== undefined && bytes > usage.capacityBytes;
  return (
    <form className="inline-form" onSubmit={(event) => {
      event.preventDefault();
      if (ok) onGrow(bytes);
    }}>
      <label htmlFor={id}>New size of {file.name} in MiB (now {current})</label>
      <input id={`${id}`} type="number" min={current + 1} step={1} value={size} disabled={busy} aria-invalid={!ok} autoFocus onChange={(e) => setSize(e.target.value)} />
      <button type="submit" className="primary" disabled={busy || !ok}>Grow</button>
      <button type="button" className="secondary" onClick={onCancel}>Cancel</button>
    </form>
  );
}

/** What create made, and how the live system learns about it. */
function createdWords(made: PersistenceFileDto[]): string {
  const created = `Created ${made.map((f) => f.name).join(' and ')}.`;
  const overlay = made.find((f) => f.role === 'overlay');
  if (overlay?.bootProblem) return `${created} Note: ${overlay.bootProblem}.`;
  const entries = overlay?.bootEntries?.filter((b) => b.entries > 0) ?? [];
  if (entries.length === 0) return created;
  const where = entries.map((b) => `${b.file} (${counted(b.entries, 'entry', 'entries')})`).join(', ');
  return `${created} The live system finds it through ${overlay?.kernelParams?.join(' ')} in ${where}.`;
}

/** The home.img to make beside the overlay: its size, and its passphrase when it is encrypted. */
interface HomeRequest {
  size: number;
  passphrase?: string;
}

function CreateForm({ busy, offerHome, onCreate }: { busy: boolean; offerHome: boolean; onCreate(type: OverlayTypeDto, size: number, home?: HomeRequest): void }) {
  const id = useId();
  const [type, setType] = useState<OverlayTypeDto>('overlayfs');
  const [size, setSize] = useState('1024');
  const [withHome, setWithHome] = useState(false);
  const [home, setHome] = useState('512');
  const [encrypt, setEncrypt] = useState(false);
  const [passphrase, setPassphrase] = useState('');
  const [again, setAgain] = useState('');
  const bytes = mebibytes(size);
  const homeBytes = withHome ? mebibytes(home) : undefined;
  const encrypted = withHome && encrypt;
  // Only what the form can tell; what the boot prompt accepts is Bootkey's check, whose refusal shows above.
  const passphraseProblem = !encrypted ? undefined
    : passphrase === '' ? 'Type the passphrase.'
      : again !== passphrase ? 'The two passphrases differ: type the same one twice.' : undefined;
  const ok = bytes !== undefined && (!withHome || homeBytes !== undefined) && passphraseProblem === undefined;
  return (
    <form className="menu-form" onSubmit={(event) => {
      event.preventDefault();
      if (!ok) return;
      onCreate(type, bytes, homeBytes === undefined ? undefined : { size: homeBytes, ...(encrypted ? { passphrase } : {}) });
    }}>
      <fieldset>
        <legend>Create persistence</legend>
        <div className="field" role="radiogroup" aria-labelledby={`${id}-type`}>
          <span id={`${id}-type`}>Kind of overlay:</span>
          <label className="check">
            <input type="radio" name={`${id}-kind`} checked={type === 'overlayfs'} disabled={busy} onChange={() => setType('overlayfs')} />
            OverlayFS (an ext4 image; newer Fedora live images)
          </label>
          <label className="check">
            <input type="radio" name={`${id}-kind`} checked={type === 'dm'} disabled={busy} onChange={() => setType('dm')} />
            Device-mapper snapshot (images with LiveOS/rootfs.img; space used is never freed)
          </label>
        </div>
        <div className="field">
          <label htmlFor={`${id}-size`}>Overlay size in MiB (FAT holds at most 4095)</label>
          <input id={`${id}-size`} type="number" min={16} step={1} value={size} disabled={busy} aria-invalid={bytes === undefined} onChange={(e) => setSize(e.target.value)} />
        </div>
        {offerHome && (
          <div className="field">
            <label className="check">
              <input type="checkbox" checked={withHome} disabled={busy} onChange={(e) => setWithHome(e.target.checked)} />
              Also a home.img for /home
            </label>
            {withHome && (
              <>
                <label htmlFor={`${id}-home`}>home.img size in MiB</label>
                <input id={`${id}-home`} type="number" min={16} step={1} value={home} disabled={busy} aria-invalid={homeBytes === undefined} onChange={(e) => setHome(e.target.value)} />
              </>
            )}
          </div>
        )}
        {offerHome && withHome && (
          <div className="field">
            <label className="check">
              <input type="checkbox" checked={encrypt} disabled={busy} onChange={(e) => setEncrypt(e.target.checked)} />
              Encrypt home.img with a passphrase
            </label>
          </div>
        )}
        {encrypted && (
          <>
            <p id={`${id}-pass-help`} className="muted">
              The live system asks for this passphrase at every start before it can use /home. It cannot be recovered: without it, the files in home.img are lost.
            </p>
            <div className="field">
              <label htmlFor={`${id}-pass`}>Passphrase for home.img</label>
              <input id={`${id}-pass`} type="password" autoComplete="new-password" value={passphrase} disabled={busy}
                aria-describedby={`${id}-pass-help`} aria-invalid={passphrase === ''} onChange={(e) => setPassphrase(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor={`${id}-pass-again`}>The same passphrase again</label>
              <input id={`${id}-pass-again`} type="password" autoComplete="new-password" value={again} disabled={busy}
                aria-describedby={`${id}-pass-problem`} aria-invalid={passphraseProblem !== undefined && passphrase !== ''} onChange={(e) => setAgain(e.target.value)} />
            </div>
            <p id={`${id}-pass-problem`} className={passphraseProblem ? 'field-problem' : 'muted'} aria-live="polite">
              {passphraseProblem ?? 'Both the same.'}
            </p>
          </>
        )}
        <button type="submit" className="primary" disabled={busy || !ok}>
          Create
        </button>
      </fieldset>
    </form>
  );
}

function AskDialog({ asking, onCancel, onConfirm }: { asking: Asking; onCancel(): void; onConfirm(): void }) {
  const { kind, file, dir } = asking;
  const used = file.usage ? `${formatBytes(file.usage.usedBytes)} in use` : 'its contents';
  if (kind === 'reset') {
    return (
      <ConfirmDialog title={`Reset ${file.name}?`} confirmLabel={`Reset and lose ${used}`} danger onCancel={onCancel} onConfirm={onConfirm}>
        <p>
          This empties <span className="file-name">{dir}/{file.name}</span> ({used}). Lost for good: {lostWords(file)}.
        </p>
        <p>The file keeps its size; the live image itself and your other files on the key are not touched.</p>
      </ConfirmDialog>
    );
  }
  if (kind === 'delete') {
    return (
      <ConfirmDialog title={`Delete ${file.name}?`} confirmLabel={`Delete ${file.name}`} danger onCancel={onCancel} onConfirm={onConfirm}>
        <p>
          This removes <span className="file-name">{dir}/{file.name}</span> from the key{file.usage ? ` (${formatBytes(file.usage.capacityBytes)} freed)` : ''}.
          Lost for good: {lostWords(file)}.
        </p>
        {file.role === 'overlay' && <p>Its kernel parameters are taken out of the boot entries first, so the live system no longer looks for it.</p>}
      </ConfirmDialog>
    );
  }
  if (kind === 'recover') {
    return (
      <ConfirmDialog title={`Recover ${file.name}?`} confirmLabel="Save the header and recover" danger={false} onCancel={onCancel} onConfirm={onConfirm}>
        <p>
          {file.usage?.kind === 'dm-snapshot'
            ? 'The kernel marked this overlay Invalid, usually because it filled up or the key was pulled while the live system ran. Bootkey marks it valid again so the live system uses its changes, then checks the filesystem it holds on a scratch copy on this computer.'
            : 'This image has recorded filesystem errors. Bootkey runs e2fsck on it, which repairs what it safely can.'}
        </p>
        <p>
          First, its header (the first block, which says how the changes are laid out) is saved beside it as{' '}
          <span className="file-name">{dir}/{file.name}.header-DATE.bak</span>: copying that back over the start of the file undoes the recovery.
        </p>
        <p>Changes written just before it was marked may be damaged: check your files after the next start.</p>
      </ConfirmDialog>
    );
  }
  return (
    <ConfirmDialog title={`Merge ${file.name} into the live image?`} confirmLabel="Merge" danger={false} onCancel={onCancel} onConfirm={onConfirm}>
      <p>
        Bootkey builds a new <span className="file-name">{dir}/squashfs.img</span> with the overlay’s changes applied, checks it (e2fsck, then reads it back
        and compares SHA-256), puts it in place of the old one, and then resets the overlay. The old image stays until the new one is verified.
      </p>
      <p>The key needs room for a second squashfs.img while this runs, and it can take several minutes.</p>
    </ConfirmDialog>
  );
}
