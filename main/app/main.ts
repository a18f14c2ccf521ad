/**
 * The Electron main process: refuses to run as root, keeps one instance, locks down web contents, opens the
 * window and binds the contract over IPC to the services (udisks through the drives service).
 */
import { app, dialog, ipcMain, type BrowserWindow } from 'electron';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sizeThreadPool } from '../adapters/thread-pool.js';
import { connectSystemUdisks } from '../adapters/udisks/system-udisks.js';
import { ApiDispatcher } from '../ipc/api-dispatcher.js';
import { hostKeyServices } from '../ipc/host-services.js';
import { bindIpc } from '../ipc/ipc-bridge.js';
import { DriveService } from '../services/drives.js';
import { jobFeedback } from './job-feedback.js';
import { createMainWindow, lockDownWebContents } from './main-window.js';

// Before anything starts libuv's pool (the imports above queue no work).
sizeThreadPool();

const ROOT_MESSAGE =
  'Bootkey must not run as root. Start it as your normal user: it asks for a password itself for the few steps that need one.';

const distDir = join(__dirname, '..');
const rendererDir = pathToFileURL(join(distDir, 'renderer') + '/').href;

async function start(): Promise<void> {
  let window: BrowserWindow | undefined;
  app.on('second-instance', () => {
    if (window?.isMinimized()) window.restore();
    window?.focus();
  });
  await app.whenReady();
  lockDownWebContents();
  const udisks = await connectSystemUdisks({ required: true });
  const { disks } = udisks;
  const drives = new DriveService(disks);
  const dispatcher = new ApiDispatcher({
    version: app.getVersion(),
    host: 'electron',
    disks,
    drives,
    ...hostKeyServices(disks, drives),
    jobs: jobFeedback(() => window),
  });
  window = createMainWindow(distDir);
  const unbind = bindIpc(ipcMain, dispatcher, window.webContents, rendererDir);
  window.on('closed', () => {
    unbind();
    window = undefined;
  });
  app.on('window-all-closed', () => {
    void udisks.close().finally(() => app.quit());
  });
}

if (process.getuid?.() === 0) {
  process.stderr.write(`bootkey: ${ROOT_MESSAGE}\n`);
  dialog.showErrorBox('Bootkey', ROOT_MESSAGE); // allowed before 'ready' on Linux
  app.exit(1);
} else if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  start().catch((error: unknown) => {
    dialog.showErrorBox('Bootkey could not start', error instanceof Error ? error.message : String(error));
    app.exit(1);
  });
}
