import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIN_RATE_MS, progressRate } from '../../main/core/progress-rate.js';

const MB = 1e6;

test('no rate before there is something to measure; then bytes since the first report over the time since', () => {
  const rateOf = progressRate();
  assert.deepEqual(rateOf('copy', 24 * MB, 100 * MB, 10_000), { rate: 0, etaSeconds: 0 }, 'the first report: bytes written before it have no time');
  assert.deepEqual(rateOf('copy', 30 * MB, 100 * MB, 10_000 + MIN_RATE_MS - 1), { rate: 0, etaSeconds: 0 }, 'too short to be a trend');
  assert.deepEqual(rateOf('copy', 48 * MB, 100 * MB, 12_000), { rate: 12 * MB, etaSeconds: 5 }, '24 MB in 2 s, 52 MB left: 4.33 s, rounded up');
  assert.deepEqual(rateOf('copy', 100 * MB, 100 * MB, 14_000), { rate: 19 * MB, etaSeconds: 0 });
});

test('interleaved phases keep their own measurements (an ISO becomes durable after the next one started)', () => {
  const rateOf = progressRate();
  rateOf('copying a.iso', 0, 60 * MB, 0);
  rateOf('copying b.iso', 0, 6 * MB, 1000);
  assert.deepEqual(rateOf('copying a.iso', 60 * MB, 60 * MB, 2000), { rate: 30 * MB, etaSeconds: 0 });
  assert.deepEqual(rateOf('copying b.iso', 6 * MB, 6 * MB, 2200), { rate: 5 * MB, etaSeconds: 0 });
});

test('a phase finished within the first 0.5 s shows the rate it achieved', () => {
  const rateOf = progressRate();
  rateOf('copying memtest.iso', 0, 6 * MB, 1000);
  assert.deepEqual(rateOf('copying memtest.iso', 3 * MB, 6 * MB, 1100), { rate: 0, etaSeconds: 0 });
  assert.deepEqual(rateOf('copying memtest.iso', 6 * MB, 6 * MB, 1200), { rate: 30 * MB, etaSeconds: 0 });
});

test('each phase measured from its own start, and anew when its bytes start again', () => {
  const rateOf = progressRate();
  rateOf('copying a.iso', 0, 8 * MB, 0);
  assert.equal(rateOf('copying a.iso', 8 * MB, 8 * MB, 1000).rate, 8 * MB);
  assert.equal(rateOf('copying b.iso', 0, 4 * MB, 1000).rate, 0);
  assert.deepEqual(rateOf('copying b.iso', 1 * MB, 4 * MB, 2000), { rate: 1 * MB, etaSeconds: 3 }, 'not diluted by a.iso’s second');
  rateOf('copying b.iso', 0, 4 * MB, 2500);
  assert.equal(rateOf('copying b.iso', 2 * MB, 4 * MB, 3500).rate, 2 * MB, 'bytes went backwards: a new measurement');
  assert.equal(rateOf('copying b.iso', 2 * MB, 4 * MB, 4500).rate, 1 * MB, 'no bytes for a second: the rate falls');
});
