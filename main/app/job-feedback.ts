/**
 * What the desktop shows while a job runs: suspend is inhibited, the taskbar shows the share of durable bytes
 * (indeterminate until the job reports any), and a notification says when a long job has finished.
 */
import { Notification, powerSaveBlocker, type BrowserWindow } from 'electron';
import type { JobObserver } from '../ipc/api-dispatcher.js';

/** Jobs shorter than this end without a notification: the user is still looking. */
const NOTIFY_AFTER_MS = 20_000;

export function jobFeedback(window: () => BrowserWindow | undefined): JobObserver {
  const running = new Map<string, { blocker: number; since: number }>();
  return {
    started(title) {
      running.set(title, { blocker: powerSaveBlocker.start('prevent-app-suspension'), since: Date.now() });
      window()?.setProgressBar(2); // > 1: indeterminate
    },
    progress(fraction) {
      window()?.setProgressBar(Math.min(1, Math.max(0, fraction)));
    },
    finished(title, outcome) {
      const job = running.get(title);
      running.delete(title);
      if (job) powerSaveBlocker.stop(job.blocker);
      const win = window();
      if (running.size === 0) win?.setProgressBar(-1, { mode: outcome === 'failed' ? 'error' : 'none' });
      // the user cancelled it themselves: nothing to tell them
      if (outcome !== 'cancelled' && job && Date.now() - job.since >= NOTIFY_AFTER_MS && Notification.isSupported() && !win?.isFocused()) {
        new Notification({ title: outcome === 'done' ? `${title}: done` : `${title}: failed` }).show();
      }
    },
  };
}
