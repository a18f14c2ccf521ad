/**
 * What a GRUB configuration needs from the medium it came from, and the references that only work on that
 * medium. Read line by line the way GRUB tokenises simple commands (quotes removed, no variable expansion):
 * a path with a variable in it cannot be followed and is reported instead.
 */

/** Commands whose arguments are files GRUB loads; for linux-style commands only the first one is. */
const FILE_COMMANDS = new Set(['initrd', 'initrdefi', 'initrd16', 'loadfont', 'module', 'module2', 'devicetree',
  'background_image', 'acpi']);
const KERNEL_COMMANDS = new Set(['linux', 'linuxefi', 'linux16', 'chainloader', 'multiboot', 'multiboot2', 'kernel']);
const CONFIG_COMMANDS = new Set(['configfile', 'source', 'normal']);

export interface GrubReferences {
  /** Absolute paths of files the configuration loads (device prefixes such as `($root)` removed). */
  files: string[];
  /** Other configurations it reads (`configfile`, `source`). */
  configs: string[];
  /** Kernel command lines, for the directories the booted system will look for (LiveOS, casper …). */
  kernelParams: string[];
  /** Paths that cannot be followed, and why: they name a variable, or climb with '..' (a tree is never left). */
  unresolved: { path: string; why: string }[];
}

function tokens(line: string): string[] {
  const out: string[] = [];
  for (const match of line.matchAll(/'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(match[1] ?? match[2] ?? match[3] ?? '');
  return out;
}

/** `($root)/boot/x` or `(hd0,1)/x` → `/boot/x`; plain `/x` stays; anything else is not a path. */
function pathOf(token: string): string | undefined {
  const stripped = token.replace(/^\([^)]*\)/, '');
  return stripped.startsWith('/') ? stripped : undefined;
}

export function grubReferences(config: string): GrubReferences {
  const refs: GrubReferences = { files: [], configs: [], kernelParams: [], unresolved: [] };
  const add = (list: string[], token: string) => {
    // `$prefix/x`, `${root}/x`: a path GRUB builds from a variable.
    const path = /^\$\{?[A-Za-z_]/.test(token) && token.includes('/') ? token : pathOf(token);
    if (path === undefined) return;
    if (path.includes('$')) refs.unresolved.push({ path, why: 'a path with a variable' });
    else if (path.split('/').includes('..')) refs.unresolved.push({ path, why: "a path with '..'" });
    else list.push(path);
  };
  // Commands end at a newline, `;`, or a brace standing alone, not `${var}` (`menuentry 'x' { linux /k; initrd /i }` on one line).
  const commands = config.split('\n').flatMap((raw) => raw.replace(/(^|\s)#.*$/, '').split(/;|(?:^|\s)[{}](?=\s|$)/));
  for (const command_ of commands) {
    const [command = '', ...args] = tokens(command_.trim());
    const words = args.filter((a) => !a.startsWith('--'));
    if (KERNEL_COMMANDS.has(command)) {
      if (words[0] !== undefined) add(refs.files, words[0]);
      refs.kernelParams.push(words.slice(1).join(' '));
    } else if (FILE_COMMANDS.has(command)) {
      for (const word of words) add(refs.files, word);
    } else if (CONFIG_COMMANDS.has(command) && words[0] !== undefined) {
      add(refs.configs, words[0]);
    }
  }
  return refs;
}

export interface Rewrite {
  line: number;
  before: string;
  after: string;
}

/**
 * Rewrites references that find the original medium by its label (or an ISO's date UUID) so they find the
 * key by its filesystem UUID instead: kernel arguments `CDLABEL=`, `hd:LABEL=`, `live:LABEL=`, and GRUB's
 * `search --label` / `search.fs_label` / `search --fs-uuid <the medium's UUID>`.
 */
export function rewriteMediumReferences(config: string, keyUuid: string, mediumUuid: string | null): { text: string; rewrites: Rewrite[] } {
  const rewrites: Rewrite[] = [];
  const lines = config.split('\n').map((line, index) => {
    let after = line
      .replace(/\bCDLABEL=[^\s'"]+/g, `UUID=${keyUuid}`)
      .replace(/\b(hd|live):LABEL=[^\s'"]+/g, `$1:UUID=${keyUuid}`);
    const search = /^(\s*)(search(?:\.fs_label|\.fs_uuid)?)\b(.*)$/.exec(after);
    if (search) {
      const [, indent = '', command = '', rest = ''] = search;
      const words = tokens(rest);
      const byLabel = command === 'search.fs_label' || words.some((w) => w === '--label' || w === '-l');
      const byMediumUuid = mediumUuid !== null && (command === 'search.fs_uuid' || words.some((w) => w === '--fs-uuid' || w === '-u'))
        && words.includes(mediumUuid);
      if (byLabel || byMediumUuid) {
        // Without --set, `search` only prints what it finds; search.fs_label takes the variable second.
        const named = /(?:--set|-s)=([A-Za-z_][A-Za-z0-9_]*)/.exec(rest)?.[1]
          ?? (command.startsWith('search.') ? words.filter((w) => !w.startsWith('-'))[1] : undefined);
        const setting = named ?? (words.some((w) => w === '--set' || w === '-s') ? 'root' : undefined);
        after = `${indent}search --no-floppy --fs-uuid${setting ? ` --set=${setting}` : ''} ${keyUuid}`;
      }
    }
    if (after !== line) rewrites.push({ line: index + 1, before: line.trim(), after: after.trim() });
    return after;
  });
  return { text: lines.join('\n'), rewrites };
}
