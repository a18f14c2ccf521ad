/**
 * The key services for one command, built as the app builds them (main/ipc/host-services.ts): udisks when it can
 * be reached (a folder or image target works without it) and the privileged helper through pkexec, or run
 * directly when BOOTKEY_HELPER names one (the tests, as root).
 */
import { HelperRunner } from '../adapters/helper/helper-runner.js';
import { connectSystemUdisks } from '../adapters/udisks/system-udisks.js';
import { hostKeyServices, type HostKeyServices } from '../ipc/host-services.js';
import { DriveService } from '../services/drives.js';

export async function withKeyServices<T>(work: (services: HostKeyServices) => Promise<T>): Promise<T> {
  const udisks = await connectSystemUdisks({ required: false });
  try {
    const helper = process.env.BOOTKEY_HELPER;
    const runner = new HelperRunner(helper ? { helperPath: helper, direct: true } : {});
    return await work(hostKeyServices(udisks.disks, new DriveService(udisks.disks), runner));
  } finally {
    await udisks.close();
  }
}
