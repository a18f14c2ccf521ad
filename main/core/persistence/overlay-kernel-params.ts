import { BootkeyError } from '../errors.js';
import { grubQuote } from '../grub/grub-script-quote.js';
import type { OverlayType } from './persistence-plan.js';

/**
 * The kernel parameters that make dracut's dmsquash-live use a persistent overlay on the key, and their place
 * in the key's boot entries. dracut only looks for a persistent overlay when `rd.live.overlay=<devspec>[:<path>]`
 * is given (without it every boot gets a temporary one); it takes the path after the LAST colon and the device
 * before the first. `rd.live.overlay.overlayfs` selects an OverlayFS overlay on dracut before 059 (newer ones
 * tell the two kinds apart by content). `rd.live.overlay.readonly` would stack a temporary overlay on top and
 * `rd.live.overlay.reset` empties the overlay at every boot: neither may stay beside a persistent overlay.
 * dracut-ng's new `rd.overlay*` names are removed too, so an entry never carries two answers.
 */

/** Every overlay switch of dmsquash-live, old and new names, with or without a value. */
const OVERLAY_SWITCH = /^rd\.(?:live\.)?overlay(?:\.(?:overlayfs|readonly|reset|size|thin))?(?:=.*)?$/;
const OVERLAYFS_SWITCH = /^rd\.(?:live\.)?overlay\.overlayfs(?:=.*)?$/;
const OVERLAY_SPEC = /^rd\.(?:live\.)?overlay=(.*)$/;
/** Words GRUB takes literally without quotes (no `$`, quotes, braces, `;`, `#`, blanks). */
const PLAIN_WORD = /^[A-Za-z0-9._:=/+,@%-]+$/;

/** The parameters for an overlay at `keyPath` (`/LiveOS/overlay-…`, `/isos/overlay-…`) on the key with this UUID. */
export function overlayParams(keyUuid: string, keyPath: string, type: OverlayType): string[] {
  if (!/^[A-Za-z0-9-]+$/.test(keyUuid)) {
    throw new BootkeyError('INVALID_ARGUMENT', `'${keyUuid}' is not a filesystem UUID dracut can find the key by`);
  }
  // The kernel splits its command line at blanks, dracut splits the spec at colons.
  if (!keyPath.startsWith('/') || /[\s:"'\\\0-\u001f]/.test(keyPath)) {
    throw new BootkeyError('INVALID_ARGUMENT', `${keyPath}: a path with blanks, colons, quotes or backslashes cannot be given to dracut (for the key's own overlay, another --label avoids it)`);
  }
  return [`rd.live.overlay=UUID=${keyUuid}:${keyPath}`, ...(type === 'overlayfs' ? ['rd.live.overlay.overlayfs'] : [])];
}

/** Whether a word is an `rd.live.overlay=` naming the overlay at `keyPath` (FAT compares names without case). */
function namesOverlay(word: string, keyPath: string): boolean {
  const spec = OVERLAY_SPEC.exec(word)?.[1];
  if (spec === undefined || !spec.includes(':')) return false;
  return spec.slice(spec.lastIndexOf(':') + 1).toLowerCase() === keyPath.toLowerCase();
}

/** The words with every overlay switch replaced by `params` (appended). Applying it twice changes nothing more. */
export function withOverlayParams(words: readonly string[], params: readonly string[]): string[] {
  return [...words.filter((w) => !OVERLAY_SWITCH.test(w)), ...params];
}

/** The words without the overlay at `keyPath`, and without the OverlayFS switch that went with it. */
export function withoutOverlayParams(words: readonly string[], keyPath: string): string[] {
  if (!words.some((w) => namesOverlay(w, keyPath))) return [...words];
  return words.filter((w) => !namesOverlay(w, keyPath) && !OVERLAYFS_SWITCH.test(w));
}

/** A space-separated parameter string (the multi-ISO key's per-ISO extra parameters) edited word by word. */
export function editParamString(text: string, edit: (words: string[]) => string[]): string {
  return edit(text.split(/\s+/).filter(Boolean)).join(' ');
}

interface Token {
  start: number;
  end: number;
  /** The word without one pair of surrounding quotes: what the kernel receives. */
  value: string;
}

function unquote(raw: string): string {
  const q = raw[0];
  if ((q === "'" || q === '"') && raw.length >= 2 && raw.endsWith(q)) return raw.slice(1, -1).replace(/'\\''/g, "'");
  return raw;
}

/** A `linux` line of a grub.cfg that boots the LiveOS folder of the key (not an ISO through iso-scan). */
const KERNEL_LINE = /^(\s*)(linux|linuxefi|linux16)(\s+)(\S+)(.*)$/;
const isLiveAnchor = (value: string) => value === 'rd.live.image' || value.startsWith('root=live:');

/**
 * Rewrites the kernel parameters of every entry of a grub.cfg that boots an extracted LiveOS (`root=live:…` or
 * `rd.live.image`, without `iso-scan/filename`): the words `edit` drops are cut out with the blank before
 * them, the words it adds go right after the live root word. Everything else — other lines, other words, their
 * spacing, line ends — stays byte for byte. `entries` counts the LiveOS kernel lines; `changed` those rewritten.
 */
export function editLiveEntries(text: string, edit: (words: string[]) => string[]): { text: string; entries: number; changed: number } {
  let entries = 0;
  let changed = 0;
  const lines = text.split('\n').map((line) => {
    const cr = line.endsWith('\r') ? '\r' : '';
    const body = cr ? line.slice(0, -1) : line;
    const match = KERNEL_LINE.exec(body);
    if (!match) return line;
    const head = match[1]! + match[2]! + match[3]! + match[4]!;
    const rest = match[5]!;
    const tokens: Token[] = [...rest.matchAll(/\S+/g)].map((m) => ({ start: m.index, end: m.index + m[0].length, value: unquote(m[0]) }));
    // A comment or a continued line is left alone: its words are not all parameters of this entry.
    if (tokens.some((t) => t.value.startsWith('#')) || rest.trimEnd().endsWith('\\')) return line;
    const anchor = tokens.findIndex((t) => isLiveAnchor(t.value));
    if (anchor < 0 || tokens.some((t) => t.value.includes('iso-scan/filename'))) return line;
    entries += 1;
    const before = tokens.map((t) => t.value);
    const after = edit(before);
    const kept = new Set(after);
    const removed = new Set(tokens.filter((t) => !kept.has(t.value)).map((t) => t.start));
    const present = new Set(before);
    const added = after.filter((w) => !present.has(w));
    if (removed.size === 0 && added.length === 0) return line;
    changed += 1;
    let out = '';
    let at = 0;
    tokens.forEach((t, index) => {
      // Cut a removed word with the blank before it; keep everything between kept words as it was.
      const gapStart = at;
      if (!removed.has(t.start)) out += rest.slice(gapStart, t.end);
      at = t.end;
      if (index === anchor) out += added.map((w) => ` ${PLAIN_WORD.test(w) ? w : grubQuote(w)}`).join('');
    });
    out += rest.slice(at);
    return `${head}${out}${cr}`;
  });
  return { text: lines.join('\n'), entries, changed };
}

/**
 * Where an extracted live image's GRUB menus live on a key: Fedora's media keep one for UEFI in EFI/BOOT and
 * one for BIOS in boot/grub2; copy-efi and other tools may leave one in boot/grub (a multi-ISO menu there only
 * has iso-scan entries, which are left alone).
 */
export const LIVE_GRUB_CFGS = ['/EFI/BOOT/grub.cfg', '/boot/grub2/grub.cfg', '/boot/grub/grub.cfg'] as const;
