/**
 * `npm run web`: the web test host over the real udisks drives, for development. Prints the page's URL (with its
 * token) and runs until interrupted. Never part of the packaged app (electron-builder ships only dist/main,
 * dist/preload and dist/renderer).
 */
import dbus from 'dbus-next';
import { join } from 'node:path';
import { UdisksClient } from '../adapters/udisks/udisks-client.js';
import { ApiDispatcher } from '../ipc/api-dispatcher.js';
import { DriveService } from '../services/drives.js';
import { startWebHost } from './web-host.js';

async function main(): Promise<void> {
  const bus = dbus.systemBus({ negotiateUnixFd: true });
  const disks = new UdisksClient({ bus });
  await disks.start();
  const dispatcher = new ApiDispatcher({
    version: process.env.npm_package_version ?? 'dev',
    host: 'web',
    disks,
    drives: new DriveService(disks),
  });
  const host = await startWebHost({ dispatcher, rendererDir: join(__dirname, '..', 'renderer') });
  process.stdout.write(`Bootkey web test host: ${host.url}\n`);
  const stop = async () => {
    await host.close();
    await disks.stop();
    bus.disconnect();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`bootkey web: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
