// The Electron IPC bridge's checks, with a recording stand-in for ipcMain and WebContents (Electron cannot run
// here): only our window's top frame at the renderer page may call; arguments are validated by the dispatcher;
// events reach the window only while it shows our page; unbinding removes every handler.
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import type { IpcMainInvokeEvent, WebContents } from 'electron';
import { ApiDispatcher } from '../../main/ipc/api-dispatcher.js';
import { bindIpc } from '../../main/ipc/ipc-bridge.js';
import { DriveService } from '../../main/services/drives.js';
import { eventChannel, METHOD_NAMES, methodChannel, type ApiResult } from '../../preload/contract.js';
import { MemoryDiskProvider } from '../harness/memory-disk-provider.js';

const rendererDir = pathToFileURL('/opt/Bootkey/resources/app.asar/dist/renderer/').href;
const page = `${rendererDir}index.html`;
type Handler = (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<ApiResult<unknown>> | ApiResult<unknown>;

function setUp() {
  const disks = new MemoryDiskProvider([{ name: 'sdb', vendor: 'Test', model: 'Key', serial: 'K1', size: 8e9, table: 'dos' }]);
  const dispatcher = new ApiDispatcher({ version: 't', host: 'electron', disks, drives: new DriveService(disks) });
  const handlers = new Map<string, Handler>();
  const ipcMain = {
    handle: (channel: string, handler: Handler) => void handlers.set(channel, handler),
    removeHandler: (channel: string) => void handlers.delete(channel),
  };
  const sent: { channel: string; payload: unknown }[] = [];
  let url = page;
  const contents = {
    isDestroyed: () => false,
    getURL: () => url,
    send: (channel: string, payload: unknown) => void sent.push({ channel, payload }),
  } as unknown as WebContents;
  const unbind = bindIpc(ipcMain as never, dispatcher, contents, rendererDir);
  const call = async (method: string, args: unknown[], from: { sender?: unknown; frame?: { url: string; parent: unknown } | null } = {}) => {
    const handler = handlers.get(methodChannel(method as never));
    assert.ok(handler, `a handler for ${method}`);
    const event = { sender: from.sender ?? contents, senderFrame: from.frame === undefined ? { url: page, parent: null } : from.frame };
    return handler(event as unknown as IpcMainInvokeEvent, ...args);
  };
  return { dispatcher, disks, handlers, sent, unbind, call, navigate: (to: string) => (url = to) };
}

test('every contract method has a handler; our page calls it and gets a Result', async () => {
  const { handlers, call } = setUp();
  assert.deepEqual([...handlers.keys()].sort(), METHOD_NAMES.map((m) => methodChannel(m)).sort());
  const result = await call('listDrives', []);
  assert.equal(result.ok, true);
  assert.ok(result.ok && Array.isArray(result.value) && result.value.length === 1);
});

test('bad arguments from our page are a validation error, never a call', async () => {
  const { call } = setUp();
  for (const args of [[42], [], [{ id: 'x' }], ['a', 'b']]) {
    const result = await call('getDrive', args);
    assert.equal(!result.ok && result.error.code, 'INVALID_ARGUMENT', JSON.stringify(args));
  }
});

test('another window, a child frame, a navigated page or a gone frame may not call', async () => {
  const { call } = setUp();
  const refusals = [
    { sender: { other: true } },
    { frame: { url: page, parent: { url: page } } },
    { frame: { url: 'https://evil.example/index.html', parent: null } },
    { frame: { url: `${rendererDir}other.html`, parent: null } },
    { frame: null },
  ];
  for (const from of refusals) {
    const result = await call('listDrives', [], from);
    assert.equal(!result.ok && result.error.code, 'AUTH_DENIED', JSON.stringify(from));
  }
});

test('events reach the window only while it shows our page; unbinding removes every handler', async () => {
  const { dispatcher, disks, handlers, sent, unbind, navigate } = setUp();
  // Another front end's view of the same events: once it has seen a change, the bridge has had it too.
  let seen = 0;
  dispatcher.subscribe((event) => void (event === 'drivesChanged' && (seen += 1)));
  const until = async (done: () => boolean) => {
    for (const deadline = Date.now() + 10_000; !done();) {
      assert.ok(Date.now() < deadline, 'no drivesChanged event within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  disks.attach({ name: 'sdc', vendor: 'Test', model: 'Second', serial: 'K2', size: 4e9, table: 'dos' });
  await until(() => sent.length === 1);
  assert.deepEqual(sent.map((s) => s.channel), [eventChannel('drivesChanged')]);
  navigate('https://evil.example/');
  const before = seen;
  disks.detach('sdc');
  await until(() => seen > before);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(sent.length, 1, 'nothing sent to a page that is not ours');
  unbind();
  assert.equal(handlers.size, 0);
});
