// Hostile input for the text Bootkey reads from a key or an ISO: /.bootkey/manifest.json and its journal (through
// the reader and the real host KeyFiles adapter on files written here), and GRUB configurations (grub.cfg,
// loopback.cfg) given to the reference finder, the medium-reference rewriter and the loopback.cfg check. Each case
// starts from a real-looking input (a manifest written by the module's own serializer, configurations shaped as
// Debian, Ubuntu, Fedora and Arch ship them) and changes it: JSON members removed or of the wrong type, hostile
// paths, deep nesting; for text, line edits, long lines, deep nesting, odd quoting, NULs, bytes that are not UTF-8,
// truncation. Every case ends in a result that keeps the invariants below, or a typed error, within the CPU budget.
//
// Replay one case: BOOTKEY_FUZZ_CASE=<target>:<index> npm test -- test/unit/text-configs-fuzz.test.ts
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hostKeyFiles } from '../../main/adapters/fs/key-files.js';
import { findLoopbackCfg, kernelLinesUseIsoPath } from '../../main/core/distro/loopback-cfg.js';
import { grubReferences, rewriteMediumReferences } from '../../main/core/copy-efi/grub-references.js';
import { BootkeyError } from '../../main/core/errors.js';
import {
  backupPathOf, COPY_EFI_KIND, emptyManifest, filesAddedByBootkey, JOURNAL_PATH, MANIFEST_DIR, MANIFEST_PATH, parseManifest,
  PERSISTENCE_KIND, persistenceFiles, planUndo, serializeManifest, temporaryPathOf, withOperation, withoutPersistenceFile,
  withRewrittenFile, type KeyManifest, type ManifestOperation,
} from '../../main/core/key-manifest.js';
import { readKeyManifest } from '../../main/services/key-manifest-reader.js';
import { below, fuzzTest, jsonText, mutateJson, pick, type Json } from '../harness/fuzz-run.js';
import { memoryTree } from '../harness/memory-tree.js';
import { random, type Random } from '../harness/mutations.js';

const encode = (text: string) => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Bytes that are not UTF-8: a lone lead byte, a stray continuation, an encoded surrogate, an overlong '/'. */
const NOT_UTF8 = [[0xff], [0xc3], [0x80], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80]];

/**
 * One to three changes to a text file: line edits (removed, repeated, swapped, one of `vocabulary` inserted),
 * a long line, many lines, deep nesting, an odd quote or backslash, CRLF endings, a NUL, bytes that are not
 * UTF-8, a flipped byte, truncation. Works on bytes, as the file is on the medium.
 */
function mutateText(text: string, next: Random, vocabulary: readonly string[]): { bytes: Uint8Array; steps: string[] } {
  let lines = text.split('\n');
  let bytes: Uint8Array | undefined;
  const steps: string[] = [];
  const line = () => below(next, lines.length);
  const insertAt = (at: number, piece: Uint8Array) => {
    const b = bytes ?? encode(lines.join('\n'));
    bytes = Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);
  };
  for (let i = 0, n = 1 + below(next, 3); i < n; i++) {
    const roll = next();
    if (bytes === undefined && roll < 0.12) {
      lines.splice(line(), 1 + below(next, 3));
      steps.push('lines removed');
    } else if (bytes === undefined && roll < 0.2) {
      const at = line();
      lines.splice(at, 0, ...lines.slice(at, at + 1 + below(next, 4)));
      steps.push(`lines repeated at ${at}`);
    } else if (bytes === undefined && roll < 0.26) {
      const [a, b] = [line(), line()];
      [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
      steps.push(`lines ${a} and ${b} swapped`);
    } else if (bytes === undefined && roll < 0.42) {
      const added = pick(next, vocabulary);
      lines.splice(line(), 0, added);
      steps.push(`inserted ${JSON.stringify(added).slice(0, 60)}`);
    } else if (bytes === undefined && roll < 0.47) {
      const unit = pick(next, ['a', '"', "'", '\\', '$', '${', '{ ', '; ', '#', '/', ' ', '(', '\t', 'CDLABEL=']);
      const count = pick(next, [1000, 20_000, 200_000]);
      const at = line();
      lines[at] = `${lines[at] ?? ''} ${unit.repeat(Math.ceil(count / unit.length))}`;
      steps.push(`line ${at} made ${count} characters longer with ${JSON.stringify(unit)}`);
    } else if (bytes === undefined && roll < 0.5) {
      const unit = pick(next, ['', ';', '}', 'linux /k', '  ']);
      lines.splice(line(), 0, ...Array<string>(20_000).fill(unit));
      steps.push(`20000 lines of ${JSON.stringify(unit)}`);
    } else if (bytes === undefined && roll < 0.55) {
      const depth = pick(next, [100, 5000, 30_000]);
      const nested = next() < 0.5 ? ['menuentry x {', '}'] : ['{ [ ( "', '" ) ] }'];
      lines.splice(line(), 0, `${(nested[0] ?? '').repeat(depth)}${(nested[1] ?? '').repeat(depth)}`);
      steps.push(`nesting ${depth} deep`);
    } else if (bytes === undefined && roll < 0.62) {
      const at = line();
      const current = lines[at] ?? '';
      const where = below(next, current.length + 1);
      const odd = pick(next, ['"', "'", '\\', '\\"', '"\'', '`', '$', '${', '}']);
      lines[at] = current.slice(0, where) + odd + current.slice(where);
      steps.push(`${JSON.stringify(odd)} at line ${at}`);
    } else if (bytes === undefined && roll < 0.65) {
      lines = lines.map((l) => `${l}\r`);
      steps.push('CRLF');
    } else {
      const b: Uint8Array = bytes ?? encode(lines.join('\n'));
      const at = below(next, b.length + 1);
      if (roll < 0.75) {
        insertAt(at, Uint8Array.of(0));
        steps.push(`NUL at ${at}`);
      } else if (roll < 0.85) {
        insertAt(at, Uint8Array.from(pick(next, NOT_UTF8)));
        steps.push(`bytes not UTF-8 at ${at}`);
      } else if (roll < 0.92 && b.length > 0) {
        const flipped = b.slice();
        flipped[Math.min(at, b.length - 1)]! ^= 1 << below(next, 8);
        bytes = flipped;
        steps.push(`bit flipped at ${at}`);
      } else {
        bytes = b.subarray(0, at);
        steps.push(`truncated to ${at}`);
      }
    }
  }
  return { bytes: bytes ?? encode(lines.join('\n')), steps };
}

// ---- GRUB configurations ----

const KEY_UUID = 'B00C-4EE1';
const MEDIUM_UUID = '2024-05-01-10-00-00-00';

/** Configurations as distributions ship them on their ISOs (shortened). */
const GRUB_CONFIGS: [string, string][] = [
  ['debian installer grub.cfg', `if loadfont $prefix/font.pf2 ; then
  set gfxmode=800x600
  set gfxpayload=keep
  insmod efi_gop
  insmod efi_uga
  insmod video_bochs
  insmod video_cirrus
  insmod gfxterm
  insmod png
  terminal_output gfxterm
fi

if background_image /isolinux/splash.png; then
  set color_normal=light-gray/black
  set color_highlight=white/black
elif background_image /splash.png; then
  set color_normal=light-gray/black
else
  set menu_color_normal=cyan/blue
fi

insmod play
play 960 440 1 0 4 440 1
set theme=/boot/grub/theme/1
menuentry --hotkey=g 'Graphical install' {
    set background_color=black
    linux    /install.amd/vmlinuz vga=788 --- quiet
    initrd   /install.amd/gtk/initrd.gz
}
submenu --hotkey=a 'Advanced options ...' {
    set menu_color_normal=cyan/blue
    menuentry '... Graphical expert install' {
        linux    /install.amd/vmlinuz priority=low vga=788 ---
        initrd   /install.amd/gtk/initrd.gz
    }
    menuentry --hotkey=x '... Expert install' { linux /install.amd/vmlinuz priority=low vga=788 --- ; initrd /install.amd/initrd.gz }
}
source /boot/grub/theme/1`],
  ['ubuntu loopback.cfg', `menuentry "Try or Install Ubuntu" {
	set gfxpayload=keep
	linux	/casper/vmlinuz  iso-scan/filename=\${iso_path} --- quiet splash
	initrd	/casper/initrd
}
menuentry "Ubuntu (safe graphics)" {
	set gfxpayload=keep
	linux	/casper/vmlinuz  nomodeset  iso-scan/filename=\${iso_path} --- quiet splash
	initrd	/casper/initrd
}`],
  ['fedora grub.cfg', `set default="1"

function load_video {
  insmod all_video
}

load_video
set gfxpayload=keep
insmod gzio
insmod part_gpt
insmod ext2
insmod chain

set timeout=60
### END /etc/grub.d/00_header ###

search --no-floppy --set=root -l 'Fedora-WS-Live-39-1-5'

### BEGIN /etc/grub.d/10_linux ###
menuentry 'Start Fedora-Workstation-Live 39' --class fedora --class gnu-linux --class gnu --class os {
	linuxefi /images/pxeboot/vmlinuz root=live:CDLABEL=Fedora-WS-Live-39-1-5  rd.live.image quiet rhgb
	initrdefi /images/pxeboot/initrd.img
}
menuentry 'Test this media & start Fedora-Workstation-Live 39' --class fedora --class gnu-linux --class gnu --class os {
	linuxefi /images/pxeboot/vmlinuz root=live:CDLABEL=Fedora-WS-Live-39-1-5  rd.live.image rd.live.check quiet
	initrdefi /images/pxeboot/initrd.img
}
submenu 'Troubleshooting -->' {
	menuentry 'Start Fedora-Workstation-Live 39 in basic graphics mode' --class fedora --class gnu-linux --class gnu --class os {
		linuxefi /images/pxeboot/vmlinuz root=live:CDLABEL=Fedora-WS-Live-39-1-5  rd.live.image nomodeset quiet rhgb
		initrdefi /images/pxeboot/initrd.img
	}
	menuentry 'Boot first drive' --class fedora --class gnu-linux --class gnu --class os {
		chainloader (hd0)+1
	}
}`],
  ['arch grub.cfg', `insmod part_gpt
insmod part_msdos
insmod fat
insmod iso9660
if [ -z "\${ARCHISO_UUID}" ]; then
    if [ -z "\${ARCHISO_HINT}" ]; then
        regexp --set=1:ARCHISO_HINT '^\\(([^)]+)\\)' "\${cmdpath}"
    fi
    search --no-floppy --set=root --file '/boot/2024-05-01-10-00-00-00.uuid' --hint "\${ARCHISO_HINT}"
    probe --set ARCHISO_UUID --fs-uuid "\${root}"
fi
search --fs-uuid --set=archiso_img_dev ${MEDIUM_UUID}
menuentry "Arch Linux install medium (x86_64, UEFI)" --class arch --class gnu-linux --class gnu --class os --id 'archlinux' {
    set gfxpayload=keep
    linux /arch/boot/x86_64/vmlinuz-linux archisobasedir=arch archisosearchuuid=${MEDIUM_UUID}
    initrd /arch/boot/x86_64/initramfs-linux.img
}
if [ "\${grub_platform}" == "efi" ]; then
    menuentry 'UEFI Shell' { chainloader /shellx64.efi }
fi
menuentry 'System shutdown' --class shutdown --class poweroff { echo 'System shutting down...'; halt }`],
];

/** Lines GRUB configurations contain, for insertion: every command the finder and rewriter look at, in odd forms. */
const GRUB_LINES = [
  'linux /vmlinuz boot=live findiso=${iso_path}', 'linux16 ($root)/k quiet', 'linuxefi', 'initrd /a /b "/c d" \'/e f\'',
  'initrd $prefix/x', 'initrd ${root}/x/../y', 'module2 /boot/x.mod', 'configfile /boot/grub/../grub/x.cfg', 'source ($root)/x.cfg',
  'normal', 'chainloader +1', 'chainloader (hd0,gpt1)/EFI/BOOT/BOOTX64.EFI', 'multiboot2 /boot/memtest.efi', 'loadfont unicode',
  'search --label', 'search --label --set', 'search -l X -s', `search.fs_label X root`, 'search.fs_label', `search.fs_uuid ${MEDIUM_UUID} r`,
  `search --fs-uuid -u ${MEDIUM_UUID} --set=\${x}`, 'search --set=9bad -l X', 'linux /k root=live:LABEL=X inst.stage2=hd:LABEL=A\\x20B',
  'linux /k CDLABEL="quoted label"', '  # linux /commented', 'menuentry "x" { linux /k; initrd /i }', 'linux /k ; ; ; initrd',
  'initrd "/unterminated', "initrd '/unterminated", 'initrd "/a\\"b"', 'initrd "\\', '{', '}', 'if [ x ]; then initrd /x; fi',
];

// ---- manifests ----

function operation(id: string, kind: string, files: string[], replaced: string[], state: ManifestOperation['state']): ManifestOperation {
  return {
    id, kind, source: `${id}.iso`, startedAt: '2026-01-02T03:04:05.000Z', state,
    added: files.map((path, i) => ({ path, size: 1000 + i, sha256: state === 'complete' ? 'ab'.repeat(32) : null })),
    replaced: replaced.map((path) => ({ path, backup: backupPathOf(id, path), size: 77 })),
    createdDirectories: ['/EFI', '/EFI/BOOT', `${MANIFEST_DIR}/backup/${id}`],
    temporaries: files.map(temporaryPathOf),
  };
}

/** Manifests as Bootkey writes them: copies finished and interrupted, persistence files, replaced user files. */
const MANIFESTS: KeyManifest[] = [
  withOperation(emptyManifest(), operation('op-1', COPY_EFI_KIND, ['/EFI/BOOT/BOOTX64.EFI', '/boot/grub/grub.cfg'], ['/EFI/BOOT/BOOTX64.EFI'], 'complete')),
  withOperation(withOperation(emptyManifest(), operation('op-1', COPY_EFI_KIND, ['/EFI/BOOT/grubx64.efi'], [], 'complete')),
    operation('op-2', COPY_EFI_KIND, ['/EFI/BOOT/BOOTX64.EFI', '/live/vmlinuz', '/live/initrd.img'], ['/EFI/BOOT/BOOTX64.EFI'], 'writing')),
  withOperation(withOperation(emptyManifest(), operation('p-1', PERSISTENCE_KIND, ['/LiveOS/overlay-KEY-B00C-4EE1', '/LiveOS/home.img'], [], 'complete')),
    operation('op-3', COPY_EFI_KIND, ['/EFI/BOOT/BOOTIA32.EFI'], [], 'complete')),
];

/** Paths a damaged or hostile manifest may hold in place of a key path. */
const HOSTILE_PATHS = ['../etc/passwd', '/a/../../etc', '/..', '/', '', 'relative/path', '/a/./b', '//double', '/a/b/', '/x\u0000y',
  '\\..\\windows', '/\u00fc\u00df', `/${'d/'.repeat(5000)}f`, '/.bootkey/manifest.json', ' /space', '/a/..', '/%2e%2e/x', '/\ud800'];

const ROOT = '/media/key';

/** A key path used as the code does (`root + path`) stays inside the key, and the filesystem can take it. */
function checkKeyPath(path: string): void {
  assert.ok(posix.normalize(ROOT + path).startsWith(`${ROOT}/`), `${JSON.stringify(path)} leaves the key`);
  assert.ok(!path.includes('\0'), `${JSON.stringify(path)} has a NUL, which no filesystem call takes`);
}

describe('fuzzed manifests and GRUB configurations end in a result or a typed error', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootkey-text-fuzz-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('regressions: a null operation or file entry, a NUL in a path, an oversized journal are typed errors or damage', async () => {
    const damaged = (e: unknown) => e instanceof BootkeyError && e.code === 'MALFORMED_IMAGE';
    const op = JSON.parse(decode(serializeManifest(MANIFESTS[0]!))).operations[0] as Record<string, Json>;
    // Fuzz cases "$.operations[0] = null" (key-manifest seed 4192932367) and "replaced[0].backup = /x\0y" (seed 98215320).
    assert.throws(() => parseManifest('{"version":1,"operations":[null]}'), damaged);
    assert.throws(() => parseManifest(JSON.stringify({ version: 1, operations: [{ ...op, added: [null] }] })), damaged);
    assert.throws(() => parseManifest(JSON.stringify({ version: 1, operations: [{ ...op, replaced: [{ path: '/a', backup: '/x\0y', size: 1 }] }] })), damaged);
    // Fuzz case "journal: over 16 MiB" (seed 2364716349): the adapter threw a plain Error.
    const key = join(dir, 'huge');
    await mkdir(join(key, MANIFEST_DIR), { recursive: true });
    await writeFile(key + JOURNAL_PATH, '');
    await truncate(key + JOURNAL_PATH, 16 * 1024 * 1024 + 1);
    await assert.rejects(readKeyManifest(hostKeyFiles, key), (e: unknown) => e instanceof BootkeyError && e.code === 'FILE_TOO_LARGE');
    // With a whole manifest beside it, that manifest is what survived (it was refused with the journal's error).
    await writeFile(key + MANIFEST_PATH, serializeManifest(MANIFESTS[0]!));
    assert.deepEqual(await readKeyManifest(hostKeyFiles, key), MANIFESTS[0]);
  });

  fuzzTest('key-manifest', 3000, async (seed) => {
    const next = random(seed);
    const pristine = pick(next, MANIFESTS);
    const pristineBytes = serializeManifest(pristine);
    const steps: string[] = [];
    /** The text of one of the two files: missing, pristine, or mutated as JSON and perhaps as text. */
    const version = (): Uint8Array | undefined | 'huge' => {
      const roll = next();
      if (roll < 0.1) {
        steps.push('missing');
        return undefined;
      }
      if (roll < 0.25) {
        steps.push('pristine');
        return pristineBytes;
      }
      if (roll < 0.27) {
        steps.push('over 16 MiB');
        return 'huge';
      }
      let value = JSON.parse(decode(serializeManifest(pristine))) as Json;
      for (let i = 0, n = 1 + below(next, 3); i < n; i++) {
        const change = mutateJson(value, next, HOSTILE_PATHS);
        value = change.value;
        steps.push(change.step);
      }
      const text = jsonText(value);
      if (next() < 0.7) return encode(text);
      const changed = mutateText(text, next, ['{', ']', '"version": 1,', '"operations": [],', ',', 'null']);
      steps.push(...changed.steps);
      return changed.bytes;
    };
    steps.push('manifest:');
    const manifest = version();
    steps.push('journal:');
    const journal = version();
    return {
      steps,
      exercise: async () => {
        // The real adapter reads the two files from a folder standing for the key.
        const key = join(dir, 'key');
        await mkdir(join(key, MANIFEST_DIR), { recursive: true });
        for (const [path, content] of [[MANIFEST_PATH, manifest], [JOURNAL_PATH, journal]] as const) {
          await rm(key + path, { force: true });
          if (content === 'huge') {
            await writeFile(key + path, '{"version":1,"operations":[]}');
            await truncate(key + path, 16 * 1024 * 1024 + 1);
          } else if (content) await writeFile(key + path, content);
        }
        // One whole file is enough, whatever happened to the other (the journal's promise).
        const m = await (manifest === pristineBytes || journal === pristineBytes
          ? readKeyManifest(hostKeyFiles, key).catch((error: unknown) => assert.fail(`one file is whole, yet: ${String(error)}`))
          : readKeyManifest(hostKeyFiles, key));
        // What the services do with it: the undo plan, the lists, the rewrites, writing it back.
        for (const step of planUndo(m)) {
          checkKeyPath(step.path);
          if (step.kind === 'restore') checkKeyPath(step.backup);
        }
        filesAddedByBootkey(m);
        const persistence = persistenceFiles(m);
        for (const file of persistence) withoutPersistenceFile(m, file.path);
        const first = m.operations[0]?.added[0];
        if (first) withRewrittenFile(m, first.path, { size: 1, sha256: 'cd'.repeat(32) });
        assert.deepEqual(parseManifest(decode(serializeManifest(m))), m, 'written back, it reads the same');
        return m.operations.length ? 'operations' : 'empty';
      },
    };
  });

  fuzzTest('grub-config', 3000, (seed) => {
    const next = random(seed);
    const [name, pristine] = pick(next, GRUB_CONFIGS);
    const { bytes, steps } = mutateText(pristine, next, GRUB_LINES);
    return {
      steps: [name, ...steps],
      exercise: async () => {
        const text = decode(bytes);
        const refs = grubReferences(text);
        for (const path of [...refs.files, ...refs.configs]) {
          assert.ok(path.startsWith('/') && !path.includes('$') && !path.split('/').includes('..') && !path.includes('\n'),
            `path ${JSON.stringify(path.slice(0, 100))}`);
        }
        for (const { path } of refs.unresolved) {
          assert.ok((path.includes('$') || path.split('/').includes('..')) && !path.includes('\n'), `unresolved ${JSON.stringify(path.slice(0, 100))}`);
        }
        for (const params of refs.kernelParams) assert.ok(!params.includes('\n'));

        const { text: out, rewrites } = rewriteMediumReferences(text, KEY_UUID, MEDIUM_UUID);
        const before = text.split('\n');
        const afterLines = out.split('\n');
        assert.equal(afterLines.length, before.length, 'the rewrite keeps every line');
        const changed = new Map(rewrites.map((r) => [r.line, r]));
        assert.equal(changed.size, rewrites.length, 'one rewrite per line');
        before.forEach((line, i) => {
          const r = changed.get(i + 1);
          if (!r) assert.equal(afterLines[i], line, `line ${i + 1} unchanged`);
          else {
            assert.equal(r.before, line.trim());
            assert.equal(r.after, afterLines[i]?.trim());
            assert.notEqual(afterLines[i], line);
          }
        });
        assert.deepEqual(rewriteMediumReferences(out, KEY_UUID, MEDIUM_UUID).rewrites, [], 'a rewritten config needs no second rewrite');

        const passes = kernelLinesUseIsoPath(text);
        assert.equal(kernelLinesUseIsoPath(`${text}\nlinux /vmlinuz iso-scan/filename=\${iso_path}`), true);
        assert.equal(kernelLinesUseIsoPath(text.replaceAll('iso_path', '')), false);
        if (passes) assert.ok(text.includes('iso_path'));
        const found = await findLoopbackCfg(memoryTree({ '/boot/grub/loopback.cfg': bytes }));
        assert.deepEqual(found, { path: '/boot/grub/loopback.cfg', passesIsoPath: passes });
        return rewrites.length ? 'rewritten' : refs.files.length ? 'files found' : 'no files';
      },
    };
  }, { caseMs: 2000 });
});
