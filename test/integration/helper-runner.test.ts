import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HelperRunner, helperArgs } from '../../main/adapters/helper/helper-runner.js';
import { fromDbusError } from '../../main/adapters/udisks/dbus-errors.js';
import { BootkeyError } from '../../main/core/errors.js';

/** The runner's translation of the helper's JSON lines and exit statuses, with stand-in helper programs. */
describe('helper runner (stand-in helpers)', () => {
  let dir: string;
  const target = { device: '/dev/sdb', serial: 'S 1', size: 1024 };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootkey-runner-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function stub(name: string, body: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  }

  test('argv is an array per verb, never a joined string', () => {
    assert.deepEqual(helperArgs({ verb: 'check', target }), ['check', '/dev/sdb', 'S 1', '1024']);
    assert.deepEqual(helperArgs({ verb: 'install-grub-bios', target, mountPoint: '/media/u/K EY' }),
      ['install-grub-bios', '/dev/sdb', 'S 1', '1024', '/media/u/K EY']);
  });

  test('events are parsed line by line and returned on exit 0; the arguments arrive intact', async () => {
    const helper = await stub('ok', 'printf \'{"event":"args","argv":"%s|%s|%s|%s"}\\n\' "$1" "$2" "$3" "$4"; echo noise; echo \'{"event":"done"}\'');
    const seen: string[] = [];
    const events = await new HelperRunner({ helperPath: helper, direct: true }).run({ verb: 'check', target }, (e) => seen.push(e.event));
    assert.deepEqual(seen, ['args', 'done']);
    assert.equal(events[0]?.argv, 'check|/dev/sdb|S 1|1024');
  });

  for (const [helperCode, status, ours] of [['REFUSED', 65, 'TARGET_REFUSED'], ['CHANGED', 66, 'TARGET_CHANGED'],
    ['USAGE', 64, 'INVALID_ARGUMENT'], ['TOOL_FAILED', 67, 'IO_ERROR'], ['MISSING_TOOL', 68, 'MISSING_TOOL']] as const) {
    test(`helper ${helperCode} (exit ${status}) → ${ours}`, async () => {
      const helper = await stub(`fail-${status}`, `echo '{"event":"error","code":"${helperCode}","message":"why"}'; exit ${status}`);
      await assert.rejects(new HelperRunner({ helperPath: helper, direct: true }).run({ verb: 'check', target }),
        (e: unknown) => e instanceof BootkeyError && e.code === ours && e.message === 'why');
    });
  }

  test('a helper that is not installed is MISSING_TOOL, with where to get it', async () => {
    await assert.rejects(new HelperRunner({ helperPath: join(dir, 'absent') }).run({ verb: 'check', target }),
      (e: unknown) => e instanceof BootkeyError && e.code === 'MISSING_TOOL' && /deb and rpm/.test(e.message));
  });

  for (const [status, words, ours] of [[126, '', 'AUTH_CANCELLED'],
    [127, 'Error executing command as another user: No authentication agent found.', 'AUTH_NO_AGENT'],
    [127, 'Error executing command as another user: Not authorized', 'AUTH_DENIED']] as const) {
    test(`pkexec exit ${status} ${words ? `("${words.slice(-28)}")` : ''} → ${ours}`, async () => {
      // a stand-in pkexec first on PATH: the runner calls `pkexec --disable-internal-agent HELPER ARGS`
      const bin = join(dir, `bin-${ours}`);
      await rm(bin, { recursive: true, force: true });
      await mkdir(bin);
      await writeFile(join(bin, 'pkexec'), `#!/bin/sh\n[ "$1" = --disable-internal-agent ] || exit 99\necho '${words}' >&2\nexit ${status}\n`);
      await chmod(join(bin, 'pkexec'), 0o755);
      const helper = await stub('never-run', 'exit 0');
      const path = process.env.PATH;
      process.env.PATH = `${bin}:${path}`;
      try {
        await assert.rejects(new HelperRunner({ helperPath: helper }).run({ verb: 'check', target }),
          (e: unknown) => e instanceof BootkeyError && e.code === ours);
      } finally {
        process.env.PATH = path;
      }
    });
  }

  test('D-Bus error names map to our codes; NotAuthorizedCanObtain means no agent', () => {
    const named = (type: string) => fromDbusError(Object.assign(new Error('text'), { type }), 'Mount').code;
    assert.equal(named('org.freedesktop.UDisks2.Error.NotAuthorizedDismissed'), 'AUTH_CANCELLED');
    assert.equal(named('org.freedesktop.UDisks2.Error.NotAuthorizedCanObtain'), 'AUTH_NO_AGENT');
    assert.equal(named('org.freedesktop.UDisks2.Error.DeviceBusy'), 'DRIVE_BUSY');
    assert.equal(named('org.freedesktop.UDisks2.Error.NotMounted'), 'NOT_MOUNTED');
    assert.equal(named('org.freedesktop.UDisks2.Error.Failed'), 'IO_ERROR');
  });
});
