import { execFile } from 'node:child_process';
import { open, statfs } from 'node:fs/promises';
import { promisify } from 'node:util';
import dbus, { type MessageBus } from 'dbus-next';
import { BootkeyError } from '../../core/errors.js';
import type { DiskProvider, DiskSnapshot, FormatOptions, NewPartition } from '../../ports/disk-provider.js';
import { fromDbusError } from './dbus-errors.js';
import { mapSnapshot, UDISKS, type ManagedObjects } from './snapshot-mapping.js';

const { Message, MessageType, Variant } = dbus;
const ROOT = '/org/freedesktop/UDisks2';
const OBJECT_MANAGER = 'org.freedesktop.DBus.ObjectManager';
const PROPERTIES = 'org.freedesktop.DBus.Properties';
/** The one match rule of this client: every signal udisksd sends. Dispatch happens here, not per listener. */
export const UDISKS_MATCH_RULE = `type='signal',sender='${UDISKS}',path_namespace='${ROOT}'`;
/** D-Bus flag ALLOW_INTERACTIVE_AUTHORIZATION: polkit may show a password dialog for this call. */
const ALLOW_INTERACTIVE = 0x4;

export interface UdisksClientOptions {
  /** A system bus made with `systemBus({ negotiateUnixFd: true })`; the client never closes it. */
  bus: MessageBus;
  /** Quiet time before a change event (hotplug brings bursts of signals). */
  debounceMs?: number;
  /** For calls that cannot wait on a password dialog. */
  callTimeoutMs?: number;
}

interface CallOptions {
  /** Operations that may ask for a password, or run mkfs, get no timeout. */
  interactive?: boolean;
}

type Unwrapped = Record<string, unknown>;

function unwrap(props: Record<string, { value: unknown }>): Unwrapped {
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v.value]));
}

function unwrapObjects(raw: Record<string, Record<string, Record<string, { value: unknown }>>>): ManagedObjects {
  return Object.fromEntries(
    Object.entries(raw).map(([path, ifaces]) => [
      path,
      Object.fromEntries(Object.entries(ifaces).map(([iface, props]) => [iface, unwrap(props)])),
    ]),
  );
}

/** udisks2 over dbus-next: one match rule, one ObjectManager snapshot, operations mapped to our error codes. */
export class UdisksClient implements DiskProvider {
  private readonly bus: MessageBus;
  private readonly debounceMs: number;
  private readonly callTimeoutMs: number;
  private objects: ManagedObjects = {};
  private current: DiskSnapshot = { drives: [] };
  private readonly listeners = new Set<(snapshot: DiskSnapshot) => void>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly onMessage = (msg: InstanceType<typeof Message>) => this.handleSignal(msg);
  /** Rejects when the bus connection fails (no system bus, connection lost), so no call waits forever. */
  private readonly busFailure: Promise<never>;

  constructor(options: UdisksClientOptions) {
    this.bus = options.bus;
    this.debounceMs = options.debounceMs ?? 150;
    this.callTimeoutMs = options.callTimeoutMs ?? 15_000;
    this.busFailure = new Promise<never>((_, reject) => {
      this.bus.on('error', (error: Error) =>
        reject(new BootkeyError('MISSING_TOOL', `cannot reach the system bus (package dbus): ${error.message}`)));
    });
    this.busFailure.catch(() => undefined);
  }

  async start(): Promise<void> {
    if (this.running) return;
    // Subscribe first, then read everything: a signal sent before the reply is already in the dump.
    this.bus.on('message', this.onMessage);
    try {
      await this.busCall('AddMatch', UDISKS_MATCH_RULE);
      this.running = true;
      await this.refresh();
    } catch (error) {
      this.bus.removeListener('message', this.onMessage);
      if (this.running) await this.busCall('RemoveMatch', UDISKS_MATCH_RULE).catch(() => undefined);
      this.running = false;
      throw error;
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    this.bus.removeListener('message', this.onMessage);
    await this.busCall('RemoveMatch', UDISKS_MATCH_RULE);
  }

  snapshot(): DiskSnapshot {
    return this.current;
  }

  async refresh(): Promise<DiskSnapshot> {
    const reply = await this.call(ROOT, OBJECT_MANAGER, 'GetManagedObjects', '', []);
    this.objects = unwrapObjects(reply[0] as Parameters<typeof unwrapObjects>[0]);
    this.current = Object.freeze(mapSnapshot(this.objects));
    return this.current;
  }

  onChange(listener: (snapshot: DiskSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async mount(volume: string): Promise<string> {
    const [where] = await this.call(volume, `${UDISKS}.Filesystem`, 'Mount', 'a{sv}', [{}], { interactive: true });
    return String(where);
  }

  async unmount(volume: string): Promise<void> {
    try {
      await this.call(volume, `${UDISKS}.Filesystem`, 'Unmount', 'a{sv}', [{}], { interactive: true });
    } catch (error) {
      if (!(error instanceof BootkeyError && error.code === 'NOT_MOUNTED')) throw error;
    }
  }

  async unmountAll(driveId: string): Promise<void> {
    const snapshot = await this.refresh();
    const drive = snapshot.drives.find((d) => d.id === driveId);
    if (!drive) throw new BootkeyError('DEVICE_GONE', `${driveId} is no longer there`);
    const owned = new Set([drive.disk, ...drive.partitions].map((v) => v.objectPath));
    // Unmount what is mounted, including unlocked volumes whose backing device is on this drive.
    const mounted = Object.entries(this.objects).filter(([path, ifaces]) => {
      const mounts = ifaces[`${UDISKS}.Filesystem`]?.MountPoints as unknown[] | undefined;
      return (mounts?.length ?? 0) > 0 && owned.has(this.backingOf(path));
    });
    for (const [path] of mounted) await this.unmount(path);
  }

  async format(volume: string, options: FormatOptions): Promise<void> {
    await this.call(volume, `${UDISKS}.Block`, 'Format', 'sa{sv}', [options.type, this.formatOptions(options)], {
      interactive: true,
    });
  }

  async createPartitionTable(disk: string, type: 'dos' | 'gpt'): Promise<void> {
    await this.call(disk, `${UDISKS}.Block`, 'Format', 'sa{sv}', [type, {}], { interactive: true });
  }

  async createPartition(disk: string, partition: NewPartition): Promise<string> {
    const table = `${UDISKS}.PartitionTable`;
    const [created] = await this.call(disk, table, 'CreatePartition', 'ttssa{sv}',
      [partition.offset, partition.size, partition.type, partition.name ?? '', {}], { interactive: true });
    const path = String(created);
    if (partition.bootable) {
      await this.refresh();
      const tableType = this.objects[disk]?.[table]?.Type;
      // MBR: the active flag (0x80); GPT: attribute bit 2, "legacy BIOS bootable"
      const flags = tableType === 'gpt' ? 4 : 0x80;
      await this.call(path, `${UDISKS}.Partition`, 'SetFlags', 'ta{sv}', [flags, {}], { interactive: true });
    }
    // Two calls, not CreatePartitionAndFormat: udisks 2.9 loses track of the new partition when the kernel
    // re-reads the table during that call and fails after 20 s ("Timed out waiting for object"), seen in UML.
    if (partition.format) await this.format(path, partition.format);
    return path;
  }

  async setLabel(volume: string, label: string): Promise<void> {
    await this.call(volume, `${UDISKS}.Filesystem`, 'SetLabel', 'sa{sv}', [label, {}], { interactive: true });
  }

  async attachImage(file: string, options: { readOnly: boolean }): Promise<string> {
    if (!this.fdPassing()) return this.attachWithUdisksctl(file, options);
    const handle = await open(file, options.readOnly ? 'r' : 'r+');
    try {
      const [loop] = await this.call(`${ROOT}/Manager`, `${UDISKS}.Manager`, 'LoopSetup', 'ha{sv}',
        [handle.fd, { 'read-only': new Variant('b', options.readOnly) }], { interactive: true });
      return String(loop);
    } finally {
      await handle.close();
    }
  }

  async detachImage(loop: string): Promise<void> {
    await this.call(loop, `${UDISKS}.Loop`, 'Delete', 'a{sv}', [{}], { interactive: true });
  }

  async powerOff(driveId: string): Promise<void> {
    await this.call(driveId, `${UDISKS}.Drive`, 'PowerOff', 'a{sv}', [{}], { interactive: true });
  }

  async usage(mountPoint: string): Promise<{ size: number; free: number }> {
    const stats = await statfs(mountPoint);
    return { size: stats.blocks * stats.bsize, free: stats.bavail * stats.bsize };
  }

  /** Whether this connection negotiated Unix fd passing (usocket loaded and the bus agreed). */
  fdPassing(): boolean {
    const stream = (this.bus as unknown as { _connection?: { stream?: { supportsUnixFd?: boolean } } })._connection
      ?.stream;
    return stream?.supportsUnixFd === true;
  }

  private async attachWithUdisksctl(file: string, options: { readOnly: boolean }): Promise<string> {
    const args = ['loop-setup', '--no-user-interaction', '-f', file, ...(options.readOnly ? ['-r'] : [])];
    let stdout: string;
    try {
      ({ stdout } = await promisify(execFile)('udisksctl', args, { timeout: this.callTimeoutMs }));
    } catch (error) {
      const code = (error as { code?: unknown }).code === 'ENOENT' ? 'MISSING_TOOL' : 'IO_ERROR';
      throw new BootkeyError(code, `attaching ${file} failed: ${(error as Error).message}`);
    }
    const device = /as (\/dev\/loop\d+)/.exec(stdout)?.[1];
    if (!device) throw new BootkeyError('IO_ERROR', `udisksctl said: ${stdout.trim()}`);
    return `${ROOT}/block_devices/${device.slice('/dev/'.length)}`;
  }

  private formatOptions(options: FormatOptions): Record<string, InstanceType<typeof Variant>> {
    return { label: new Variant('s', options.label), 'update-partition-type': new Variant('b', true) };
  }

  /** The block an unlocked volume sits on (following CryptoBackingDevice), or the block itself. */
  private backingOf(path: string): string {
    let current = path;
    for (let depth = 0; depth < 8; depth++) {
      const backing = this.objects[current]?.[`${UDISKS}.Block`]?.CryptoBackingDevice;
      if (typeof backing !== 'string' || backing === '/' || backing === '') return current;
      current = backing;
    }
    return current;
  }

  private handleSignal(msg: InstanceType<typeof Message>): void {
    if (!this.running || msg.type !== MessageType.SIGNAL || !msg.path?.startsWith(ROOT)) return;
    const body = msg.body as unknown[];
    if (msg.interface === OBJECT_MANAGER && msg.member === 'InterfacesAdded') {
      const [path, ifaces] = body as [string, Record<string, Record<string, { value: unknown }>>];
      const entry = { ...(this.objects[path] ?? {}) };
      for (const [iface, props] of Object.entries(ifaces)) entry[iface] = unwrap(props);
      this.objects = { ...this.objects, [path]: entry };
    } else if (msg.interface === OBJECT_MANAGER && msg.member === 'InterfacesRemoved') {
      const [path, removed] = body as [string, string[]];
      const entry = { ...(this.objects[path] ?? {}) };
      for (const iface of removed) delete entry[iface];
      const { [path]: _gone, ...rest } = this.objects;
      this.objects = Object.keys(entry).length > 0 ? { ...rest, [path]: entry } : rest;
    } else if (msg.interface === PROPERTIES && msg.member === 'PropertiesChanged') {
      const [iface, changed] = body as [string, Record<string, { value: unknown }>];
      const entry = this.objects[msg.path];
      if (!entry) return;
      this.objects = { ...this.objects, [msg.path]: { ...entry, [iface]: { ...entry[iface], ...unwrap(changed) } } };
    } else {
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.emitChange(), this.debounceMs);
  }

  private emitChange(): void {
    this.current = Object.freeze(mapSnapshot(this.objects));
    for (const listener of this.listeners) listener(this.current);
  }

  private busCall(member: 'AddMatch' | 'RemoveMatch', rule: string): Promise<unknown[]> {
    return this.callOn('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', member, 's', [rule]);
  }

  private call(path: string, iface: string, member: string, signature: string, body: unknown[],
    options: CallOptions = {}): Promise<unknown[]> {
    return this.callOn(UDISKS, path, iface, member, signature, body, options);
  }

  private async callOn(destination: string, path: string, iface: string, member: string, signature: string,
    body: unknown[], options: CallOptions = {}): Promise<unknown[]> {
    const message = new Message({ destination, path, interface: iface, member, signature, body });
    if (options.interactive) message.flags |= ALLOW_INTERACTIVE;
    const action = `${member} on ${path.startsWith(ROOT) ? path.slice(ROOT.length + 1) : path}`;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      if (options.interactive) return;
      timer = setTimeout(() => reject(new BootkeyError('TIMEOUT', `${action} got no answer`)), this.callTimeoutMs);
    });
    try {
      const reply = await Promise.race([this.bus.call(message), timeout, this.busFailure]);
      return (reply?.body ?? []) as unknown[];
    } catch (error) {
      throw fromDbusError(error, action);
    } finally {
      clearTimeout(timer);
    }
  }
}
