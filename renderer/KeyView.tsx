import { useCallback, useId, useState } from 'react';
import { CopyEfiPanel } from './CopyEfiPanel.js';
import { KeySummary } from './KeySummary.js';
import { MultiIsoPanel, type DroppedFiles } from './MultiIsoPanel.js';
import { PersistencePanel } from './PersistencePanel.js';
import { FAT_LABEL_PATTERN, type AppInfoDto, type DriveDto, type FeatureId } from '../preload/contract.js';
import { driveName } from './app-state.js';
import { formatBytes } from '../preload/byte-size.js';
import { PartitionBar, segments } from './PartitionBar.js';

const FEATURES: { id: FeatureId; title: string; what: string }[] = [
  { id: 'copyEfi', title: 'Make bootable from an ISO or image — keeps your files', what: 'Copies an image’s UEFI boot files onto the key, with undo.' },
  { id: 'multiIso', title: 'Multi-ISO key', what: 'Boots several ISO files from one key through a GRUB menu.' },
  { id: 'persistence', title: 'Live system persistence', what: 'Keeps changes made in a live system between boots.' },
];

interface Props {
  drive: DriveDto;
  info: AppInfoDto | null;
  busy: boolean;
  onErase(label: string): void;
}

/** One drive: what is on it, drawn to scale, and what each action would do to it. */
export function KeyView({ drive, info, busy, onErase }: Props) {
  const [label, setLabel] = useState('BOOTKEY');
  const labelId = useId();
  const labelHelp = useId();
  const labelOk = FAT_LABEL_PATTERN.test(label);
  const [dropped, setDropped] = useState<DroppedFiles | null>(null);
  const [dragging, setDragging] = useState(false);
  // Bumped when an action changed the key's files: the summary reads the key again.
  const [revision, setRevision] = useState(0);
  const changed = useCallback(() => setRevision((r) => r + 1), []);
  const available = (id: FeatureId) => drive.eligible && info?.features[id] === true;
  const dropsIsos = available('multiIso');
  return (
    <article
      className={`key-view${dragging ? ' dragging' : ''}`}
      aria-labelledby="key-title"
      onDragOver={(event) => {
        if (!dropsIsos) return;
        event.preventDefault();
        setDragging(true);
      }}
      onDragLeave={(event) => {
        if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={(event) => {
        if (!dropsIsos) return;
        event.preventDefault();
        setDragging(false);
        const files = [...event.dataTransfer.files];
        if (files.length > 0) setDropped((d) => ({ files, seq: (d?.seq ?? 0) + 1 }));
      }}
    >
      <h2 id="key-title">{driveName(drive)}</h2>
      <p className="key-facts">
        {formatBytes(drive.size)} · {drive.device} · {drive.partitionTable === 'none' ? 'no partition table' : `${drive.partitionTable.toUpperCase()} partition table`}
        {drive.serial ? ` · serial ${drive.serial}` : ''}
      </p>
      {!drive.eligible && (
        <div className="refusal-box">
          <p className="notice-title">Bootkey will not write to this drive:</p>
          <ul>
            {drive.refusals.map((reason) => (
              <li key={reason}>{reason}</li>
            ))}
          </ul>
        </div>
      )}
      {drive.warnings.length > 0 && (
        <ul className="warnings">
          {drive.warnings.map((w) => (
            <li key={w}>Note: {w}</li>
          ))}
        </ul>
      )}

      <section aria-labelledby="layout-title">
        <h3 id="layout-title">What is on it</h3>
        <PartitionBar drive={drive} />
        <table className="partitions">
          <thead>
            <tr>
              <th scope="col">Part</th>
              <th scope="col">Size</th>
              <th scope="col">Filesystem</th>
              <th scope="col">Label</th>
              <th scope="col">Used / free</th>
            </tr>
          </thead>
          <tbody>
            {segments(drive).map((s) =>
              s.kind === 'free' ? (
                <tr key={`free-${s.offset}`}>
                  <td><span className="swatch free" aria-hidden="true" />Unallocated</td>
                  <td>{formatBytes(s.size)}</td>
                  <td>—</td>
                  <td>—</td>
                  <td>—</td>
                </tr>
              ) : (
                <tr key={s.partition.number}>
                  <td><span className="swatch partition" aria-hidden="true" />{s.partition.number}</td>
                  <td>{formatBytes(s.partition.size)}</td>
                  <td>{s.partition.fsType ?? 'unknown'}</td>
                  <td>{s.partition.label ?? '—'}</td>
                  <td>
                    {s.partition.used === null
                      ? 'not mounted'
                      : `${formatBytes(s.partition.used)} used / ${formatBytes(s.partition.size - s.partition.used)} free`}
                  </td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      </section>

      {drive.eligible && (info?.features.copyEfi || info?.features.multiIso || info?.features.persistence) && (
        <KeySummary key={drive.id} drive={drive} revision={revision} onChanged={changed} />
      )}

      <section aria-labelledby="actions-title">
        <h3 id="actions-title">What you can do</h3>
        <ul className="actions">
          {available('copyEfi') && (
            <li>
              <CopyEfiPanel key={drive.id} drive={drive} onChanged={changed} />
            </li>
          )}
          {dropsIsos && (
            <li>
              <MultiIsoPanel key={drive.id} drive={drive} dropped={dropped} onChanged={changed} />
            </li>
          )}
          {available('persistence') && (
            <li>
              <PersistencePanel key={drive.id} drive={drive} onChanged={changed} />
            </li>
          )}
          {FEATURES.filter((f) => !available(f.id)).map((f) => (
            <li key={f.id} className="action unavailable">
              <p className="action-title">{f.title}</p>
              <p className="muted">
                {f.what} {info?.features[f.id] ? 'Bootkey does not write to this drive.' : 'Not available in this build.'}
              </p>
            </li>
          ))}
          {drive.eligible && (
            <li className="action">
              <p className="action-title">Erase and start fresh</p>
              <p className="muted">
                Replaces {['everything on the drive', 'the partition shown above'][drive.partitions.length] ?? `the ${drive.partitions.length} partitions shown above`}{' '}
                with one empty FAT32 partition. Everything on the key is lost; you confirm first.
              </p>
              <form
                className="erase-form"
                onSubmit={(event) => {
                  event.preventDefault();
                  if (labelOk) onErase(label);
                }}
              >
                <label htmlFor={labelId}>New label</label>
                <input
                  id={labelId}
                  value={label}
                  maxLength={11}
                  aria-describedby={labelHelp}
                  aria-invalid={!labelOk}
                  onChange={(event) => setLabel(event.target.value.toUpperCase())}
                  disabled={busy}
                />
                <span id={labelHelp} className="muted">
                  Up to 11 letters, digits, spaces, _ or -.
                </span>
                <button type="submit" className="danger" disabled={busy || !labelOk}>
                  {busy ? 'Erasing…' : 'Erase…'}
                </button>
              </form>
            </li>
          )}
        </ul>
      </section>
    </article>
  );
}
