/**
 * `npm run web`: the web test host over the real udisks drives, for development. Prints the page's URL (with its
 * token) and runs until interrupted. Never part of the packaged app (electron-builder ships only dist/main,
 * dist/preload and dist/renderer). Files dropped onto the page are looked up by name in the one folder named by
 * BOOTKEY_WEB_DROP_FOLDER (a page cannot know a dropped file's path); without it, dropping is refused.
 */
import { isAbsolute, join } from 'node:path';
import { connectSystemUdisks } from '../adapters/udisks/system-udisks.js';
import { ApiDispatcher } from '../ipc/api-dispatcher.js';
import { hostKeyServices } from '../ipc/host-services.js';
import { DriveService } from '../services/drives.js';
import { startWebHost } from './web-host.js';

async function main(): Promise<void> {
  const udisks = await connectSystemUdisks({ required: true });
  const { disks } = udisks;
  const drives = new DriveService(disks);
  const dropFolder = process.env.BOOTKEY_WEB_DROP_FOLDER;
  if (dropFolder !== undefined && !isAbsolute(dropFolder)) throw new Error('BOOTKEY_WEB_DROP_FOLDER must be an absolute path');
  const dispatcher = new ApiDispatcher({
    version: process.env.npm_package_version ?? 'dev',
    host: 'web',
    disks,
    drives,
    ...hostKeyServices(disks, drives),
    ...(dropFolder ? { dropFolder } : {}),
  });
  const host = await startWebHost({ dispatcher, rendererDir: join(__dirname, '..', 'renderer') });
  process.stdout.write(`Bootkey web test host: ${host.url}\n`);
  const stop = async () => {
    await host.close();
    await udisks.close();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`bootkey web: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
