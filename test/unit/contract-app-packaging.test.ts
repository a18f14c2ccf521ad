import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
const yaml = require('js-yaml') as { load(text: string): unknown };
const { validateConfiguration } = require('app-builder-lib/out/util/config/config') as {
  validateConfiguration(config: unknown, log: { warn(message: string): void }): Promise<void>;
};

const config = yaml.load(readFileSync(join(root, 'resources/app/electron-builder.yml'), 'utf8')) as {
  linux: { target: string[]; icon: string };
  deb: { fpm: string[] };
  rpm: { fpm: string[] };
};

test('the electron-builder config passes electron-builder’s own schema and names the three targets', async () => {
  await validateConfiguration(config, { warn: (message) => assert.fail(message) });
  assert.deepEqual(config.linux.target, ['deb', 'rpm', 'AppImage']);
  assert.ok(existsSync(join(root, config.linux.icon, '512x512.png')));
});

test('deb and rpm install the helper where the polkit policy pins it, and the policy and metainfo', () => {
  const policy = readFileSync(join(root, 'resources/polkit/org.bootkey.helper.policy'), 'utf8');
  const pinned = [...policy.matchAll(/"org\.freedesktop\.policykit\.exec\.path">([^<]+)</g)].map((m) => m[1]);
  assert.ok(pinned.length > 0);
  for (const fpm of [config.deb.fpm, config.rpm.fpm]) {
    const map = new Map(fpm.map((entry) => entry.split('=') as [string, string]));
    const helper = [...map].find(([, to]) => to.endsWith('/bootkey-helper'));
    assert.ok(helper && pinned.every((path) => path === helper[1]), `${helper?.[1]} vs ${pinned.join(', ')}`);
    assert.equal(helper[0], 'dist/helper/bootkey-helper'); // compiled from resources/helper by `npm run package`
    assert.ok(existsSync(join(root, 'resources/helper/bootkey-helper.c')));
    for (const [from, to] of map) {
      if (from !== helper[0]) assert.ok(existsSync(join(root, from)), from);
      assert.match(to, /^\/usr\/(libexec\/bootkey|share\/polkit-1\/actions|share\/metainfo)\//);
    }
  }
});
