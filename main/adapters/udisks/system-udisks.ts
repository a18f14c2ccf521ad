/**
 * udisks on the system bus for a front end: one bus connection, the client over it, and one way to close both.
 * The front ends (app, web host, CLI) open it here so that only this adapter talks D-Bus.
 */
import dbus from 'dbus-next';
import { UdisksClient } from './udisks-client.js';

export interface SystemUdisks {
  disks: UdisksClient;
  /** false when udisksd could not be reached and that was allowed: a folder or image target works without it. */
  available: boolean;
  close(): Promise<void>;
}

/** `required: false` (the CLI's key commands) turns an unreachable udisksd into `available: false`. */
export async function connectSystemUdisks(options: { required: boolean }): Promise<SystemUdisks> {
  const bus = dbus.systemBus({ negotiateUnixFd: true });
  const disks = new UdisksClient({ bus });
  let available = true;
  try {
    await disks.start();
  } catch (error) {
    if (options.required) {
      bus.disconnect();
      throw error;
    }
    available = false;
  }
  return {
    disks,
    available,
    async close() {
      if (available) await disks.stop().catch(() => undefined);
      bus.disconnect();
    },
  };
}
