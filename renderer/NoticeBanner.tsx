import type { Notice } from './app-state.js';
import { ERROR_TEXT } from './error-text.js';

/** The outcome of the last action: an error in words with what to do next, or what was done. */
export function NoticeBanner({ notice, onDismiss }: { notice: Notice; onDismiss(): void }) {
  // A job the user cancelled is news, not an alarm.
  const alarm = notice.kind === 'error' && notice.error.code !== 'CANCELLED';
  return (
    <div className={`notice notice-${alarm || notice.kind !== 'error' ? notice.kind : 'info'}`} role={alarm ? 'alert' : 'status'}>
      {notice.kind === 'error' ? (
        <div>
          <p className="notice-title">{ERROR_TEXT[notice.error.code].title}</p>
          <p>{notice.error.message}</p>
          <p>
            <strong>What to do:</strong> {ERROR_TEXT[notice.error.code].next}
          </p>
        </div>
      ) : (
        <p className="notice-title">{notice.text}</p>
      )}
      <button type="button" className="secondary" onClick={onDismiss}>
        Dismiss
      </button>
    </div>
  );
}
