/**
 * What the desktop shows while a job runs: suspend is inhibited, the taskbar shows the share of durable bytes
 * (indeterminate until the job reports any), and a notification says when a long job has finished.
 */
import { Notification, powerSaveBlocker, type BrowserWindow } from 'electron';
import type { JobObserver, JobOutcome } from '../ipc/api-dispatcher.js';

/** Jobs shorter than this end without a notification: the user is still looking. */
const NOTIFY_AFTER_MS = 20_000;

export function jobFeedback(window: () => BrowserWindow | undefined): JobObserver {
  let running = 0;
  return {
    started(title) {
      const blocker = powerSaveBlocker.start('prevent-app-suspension');
      const since = Date.now();
      running += 1;
      window()?.setProgressBar(2); // > 1: indeterminate
      let ended = false;
      return (outcome: JobOutcome) => {
        if (ended) return;
        ended = true;
        running -= 1;
        powerSaveBlocker.stop(blocker);
        const win = window();
        if (running === 0) win?.setProgressBar(-1, { mode: outcome === 'failed' ? 'error' : 'none' });
        // the user cancelled it themselves: nothing to tell them
        if (outcome !== 'cancelled' && Date.now() - since >= NOTIFY_AFTER_MS && Notification.isSupported() && !win?.isFocused()) {
          new Notification({ title: outcome === 'done' ? `${title}: done` : `${title}: failed` }).show();
        }
      };
    },
    progress(fraction) {
      window()?.setProgressBar(Math.min(1, Math.max(0, fraction)));
    },
  };
}
