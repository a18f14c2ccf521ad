// The command line's progress: one rewritten line on stderr (phase, percent, bytes, rate, time left), at most
// every 250 ms unless forced, or one JSON event per line on stdout with --json; the clock is mocked.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { progressPrinter } from '../../main/cli/progress.js';

function captured() {
  const out = { stdout: '', stderr: '' };
  const stream = (name: 'stdout' | 'stderr') => new Writable({
    write(chunk: Buffer, _encoding, done) {
      out[name] += chunk.toString();
      done();
    },
  });
  // Read through functions: assert.equal narrows a property's type, and the next write would not be seen.
  return { io: { stdout: stream('stdout'), stderr: stream('stderr') }, stdout: () => out.stdout, stderr: () => out.stderr };
}

test('the line: measuring first, then rate and time left; throttled unless forced; a newline only when shown', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const { io, stdout, stderr } = captured();
  const progress = progressPrinter(io, false);
  progress.done();
  assert.equal(stderr(), '', 'nothing shown, nothing to end');

  progress.update('copy', 0, 400_000_000);
  assert.equal(stderr(), '\rcopy: 0% 0 B of 400 MB, measuring the speed   ');
  t.mock.timers.tick(100);
  progress.update('copy', 10_000_000, 400_000_000);
  assert.equal(stderr().split('\r').length, 2, 'a second line within 250 ms');

  t.mock.timers.tick(900); // 1 s after the phase's first report, 100 MB durable: 100 MB/s, 3 s left
  progress.update('copy', 100_000_000, 400_000_000);
  assert.ok(stderr().endsWith('\rcopy: 25% 100 MB of 400 MB, 100 MB/s, 3 s left   '), JSON.stringify(stderr()));

  t.mock.timers.tick(10);
  progress.update('copy', 399_999_999, 400_000_000, true);
  assert.ok(stderr().endsWith('\rcopy: 99% 400 MB of 400 MB, 396 MB/s, 1 s left   '), 'forced, and the percent floored');
  progress.done();
  assert.ok(stderr().endsWith('   \n'));
  assert.equal(stdout(), '');
});

test('--json: one progress event per line on stdout, the rate measured per phase; nothing on stderr', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 5_000 });
  const { io, stdout, stderr } = captured();
  const progress = progressPrinter(io, true);
  progress.update('copy', 0, 2_000);
  t.mock.timers.tick(1_000);
  progress.update('copy', 2_000, 2_000);
  t.mock.timers.tick(300);
  progress.update('verify', 0, 2_000);
  progress.done();
  assert.deepEqual(stdout().trimEnd().split('\n').map((line) => JSON.parse(line)), [
    { event: 'progress', phase: 'copy', bytesDone: 0, bytesTotal: 2_000, rate: 0, etaSeconds: 0 },
    { event: 'progress', phase: 'copy', bytesDone: 2_000, bytesTotal: 2_000, rate: 2_000, etaSeconds: 0 },
    { event: 'progress', phase: 'verify', bytesDone: 0, bytesTotal: 2_000, rate: 0, etaSeconds: 0 },
  ]);
  assert.equal(stderr(), '');
});
