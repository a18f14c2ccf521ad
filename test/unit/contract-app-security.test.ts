import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { contentSecurityPolicy, isAllowedExternal, isAppUrl, navigationDecision } from '../../main/app/security-policy.js';

const root = join(import.meta.dirname, '..', '..');

test('the CSP allows only our own files, never inline or eval', () => {
  const csp = contentSecurityPolicy();
  assert.match(csp, /^default-src 'self'; script-src 'self';/);
  assert.doesNotMatch(csp, /unsafe|\*|http:|https:|data:.*script/);
  assert.match(csp, /object-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(contentSecurityPolicy('meta'), /frame-ancestors/); // not allowed in a meta tag
});

test('renderer/index.html carries the same policy in its meta tag', () => {
  const html = readFileSync(join(root, 'renderer/index.html'), 'utf8');
  const meta = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html);
  assert.equal(meta?.[1], contentSecurityPolicy('meta'));
  assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]/); // no inline script
});

test('only the renderer page counts as the app, in the top frame URL', () => {
  const dir = pathToFileURL('/opt/Bootkey/resources/app.asar/dist/renderer/').href;
  assert.equal(isAppUrl(`${dir}index.html`, dir), true);
  assert.equal(isAppUrl(`${dir}index.html#drive`, dir), true);
  for (const url of [
    `${dir}other.html`,
    'file:///etc/passwd',
    'file://evil.example/opt/Bootkey/resources/app.asar/dist/renderer/index.html',
    'http://127.0.0.1:8080/index.html',
    'https://example.com/',
    'not a url',
  ]) {
    assert.equal(isAppUrl(url, dir), false, url);
  }
});

test('navigation is denied; only allowlisted https links open outside', () => {
  assert.equal(navigationDecision('https://github.com/bootkey/bootkey/issues'), 'open-external');
  for (const url of [
    'http://github.com/bootkey/',
    'https://github.com.evil.example/bootkey/',
    'https://user:pw@github.com/bootkey/',
    'https://github.com/other/',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'https://example.com/',
  ]) {
    assert.equal(isAllowedExternal(url), false, url);
    assert.equal(navigationDecision(url), 'deny', url);
  }
});
