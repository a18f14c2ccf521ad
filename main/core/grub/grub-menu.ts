import type { BootRecipe, DistroFamily } from '../distro/family.js';
import type { ImageInspection } from '../inspect/inspect-image.js';
import { grubComment, grubQuote } from './grub-script-quote.js';

/** Where the ISO files live on the key; the menu only ever points here. */
export const ISO_DIR = '/isos';

/** What the menu needs from an ISO's inspection. */
export type MenuInspection = Pick<ImageInspection,
  'format' | 'label' | 'family' | 'recipe' | 'loopbackCfg' | 'efiLoaders' | 'partitionScheme'>;

/** One ISO file in /isos/ as the menu sees it. */
export interface MenuIso {
  /** File name in /isos/ (no folder). */
  name: string;
  inspection: MenuInspection;
  /**
   * Loaders Bootkey copied out of the image next to it at add time, as paths on the key. memtest86+'s UEFI
   * loader lives only inside its El Torito image, which GRUB's `loopback` cannot reach.
   */
  loaders?: { efi?: string; bios?: string };
  /** Menu title; default: a name derived from the family and the file name. */
  title?: string;
  /** Kernel parameters appended to the entry's own, each word passed as it is (no GRUB variables). */
  extraParams?: string;
}

export interface MenuOptions {
  /** Seconds before the default entry boots; 0 boots it at once, -1 waits forever. */
  timeoutSeconds: number;
  /** File name of the ISO booted by default; the first entry when unset or not in the menu. */
  defaultName?: string;
  /** Also use a serial terminal (headless machines, our QEMU tests). */
  serial?: { unit: number; speed: number };
  /** ISO file names in the order of their entries; the others follow, by name. */
  order?: readonly string[];
}

/** The library's file names in menu order: those `order` names first, as it lists them, then the rest by name. */
export function menuOrder(names: readonly string[], order: readonly string[] = []): string[] {
  const rank = new Map(order.map((name, index) => [name, index] as const));
  const ranked = names.filter((n) => rank.has(n)).sort((a, b) => rank.get(a)! - rank.get(b)!);
  const rest = names.filter((n) => !rank.has(n)).sort();
  return [...ranked, ...rest];
}

/** How an entry boots its ISO. */
export type EntryMethod = 'loopback-cfg' | 'recipe' | 'chainload' | 'try-loopback-cfg';

export interface MenuEntrySummary {
  /** GRUB's `--id` of the entry, what `default` names. */
  id: string;
  name: string;
  title: string;
  method: EntryMethod;
  /** Entries that exist only under one firmware. */
  platform: 'any' | 'efi' | 'pc';
}

export interface GrubMenu {
  text: string;
  entries: MenuEntrySummary[];
  /** ISOs the menu leaves out or boots in a lesser way, in words. */
  warnings: string[];
}

const FAMILY_TITLES: Record<DistroFamily, string> = {
  'ubuntu-casper': 'Ubuntu live', 'debian-live': 'Debian live', 'debian-installer': 'Debian installer',
  'fedora-live': 'Fedora live', 'fedora-installer': 'Fedora installer', arch: 'Arch Linux', sysrescue: 'SystemRescue',
  manjaro: 'Manjaro', memtest: 'Memtest86+', ipxe: 'iPXE', windows: 'Windows', unknown: 'ISO',
};

/** The GRUB variables recipes may name; anything else in a parameter is literal text. */
const RECIPE_VARIABLES = /\$\{(iso_path|isolabel|rootuuid)\}/;

interface EntryBody {
  method: EntryMethod;
  platform: MenuEntrySummary['platform'];
  lines: string[];
  comment?: string;
}

/**
 * Builds grub.cfg for a key from the inspections of its ISO files (never from their names): an ISO's own
 * loopback.cfg when it hands the ISO path to the kernel, else its family's recipe (DOMAIN.md), loaders for
 * memtest and iPXE, the loader of a disk image's ESP, a try-loopback.cfg entry for the unknown, nothing for
 * Windows. Pure text; GRUB's `grub-script-check` accepts every menu this makes (test/unit/grub-menu.test.ts).
 */
export function generateGrubMenu(isos: readonly MenuIso[], options: MenuOptions): GrubMenu {
  const warnings: string[] = [];
  const entries: MenuEntrySummary[] = [];
  const blocks: string[] = [];
  const byName = new Map(isos.map((iso) => [iso.name, iso] as const));
  for (const iso of menuOrder([...byName.keys()], options.order).map((name) => byName.get(name)!)) {
    const title = iso.title?.trim() || defaultTitle(iso);
    const body = entryBody(iso, warnings);
    if (!body) continue;
    const id = `iso-${entries.length}`;
    const block = [
      ...(body.comment ? [grubComment(body.comment)] : []),
      `menuentry ${grubQuote(title)} --id ${id} {`,
      ...[`set iso_path=${grubQuote(`${ISO_DIR}/${iso.name}`)}`, 'export iso_path', ...body.lines].map((l) => `  ${l}`),
      '}',
    ];
    const guarded = body.platform === 'any'
      ? block
      : [`if [ "$grub_platform" = ${body.platform} ]; then`, ...block.map((l) => `  ${l}`), 'fi'];
    blocks.push(guarded.join('\n'));
    entries.push({ id, name: iso.name, title, method: body.method, platform: body.platform });
  }
  // GRUB numbers entries as they are defined; platform-only entries shift the numbers, so pick by id.
  const chosen = entries.find((e) => e.name === options.defaultName) ?? entries[0];
  const text = [
    grubComment(`Written by Bootkey from inspecting every ISO file in ${ISO_DIR}/ (never from file names).\n` +
      'Do not edit: `bootkey multiboot menu` rewrites this file at every change.'),
    ...preamble(options, chosen),
    '',
    ...blocks.flatMap((b) => [b, '']),
    ...(entries.length === 0 ? [grubComment(`No bootable ISO file in ${ISO_DIR}/ yet.`), "menuentry 'No ISO files on this key' --id none {", '  true', '}', ''] : []),
  ].join('\n');
  return { text, entries, warnings };
}

function preamble(options: MenuOptions, chosen: MenuEntrySummary | undefined): string[] {
  const lines: string[] = [];
  if (options.serial) {
    lines.push(`serial --unit=${Math.trunc(options.serial.unit)} --speed=${Math.trunc(options.serial.speed)}`,
      'terminal_input serial console', 'terminal_output serial console');
  }
  lines.push(
    `set timeout=${Math.trunc(options.timeoutSeconds)}`,
    `set default=${chosen?.id ?? '0'}`,
    // Recipes name the key's filesystem by UUID (archiso's img_dev) and the ISO by path.
    'probe --set rootuuid --fs-uuid "$root"',
    'export rootuuid',
    'if [ "$grub_platform" = efi ]; then',
    '  # Some GRUB 2.06 builds fail `loopback` with "out of memory" while the TPM module measures every read.',
    '  rmmod tpm',
    '  insmod all_video',
    'fi',
  );
  return lines;
}

function defaultTitle(iso: MenuIso): string {
  const { family, label } = iso.inspection;
  const what = family === 'unknown' ? (label || 'ISO') : FAMILY_TITLES[family];
  return `${what} (${iso.name})`;
}

function entryBody(iso: MenuIso, warnings: string[]): EntryBody | undefined {
  const { family, recipe, loopbackCfg, efiLoaders } = iso.inspection;
  const extra = extraParams(iso.extraParams);
  if (family === 'windows') {
    warnings.push(`${iso.name}: Windows installers do not boot from an ISO file through GRUB; no menu entry`);
    return undefined;
  }
  if (family === 'memtest' || family === 'ipxe') return loaderEntry(iso, recipe, extra, warnings);
  const partitionLoader = efiLoaders.find((l) => l.where === 'partition' && l.arch === 'x64');
  if ((iso.inspection.format === 'gpt' || iso.inspection.format === 'mbr') && partitionLoader) {
    const table = iso.inspection.partitionScheme === 'gpt' ? 'gpt' : 'msdos';
    return {
      method: 'chainload', platform: 'efi',
      lines: ['loopback loop "$iso_path"', `chainloader ${grubQuote(`(loop,${table}${partitionLoader.index ?? 1})${partitionLoader.path}`)}`],
    };
  }
  const canRecipe = recipe?.kernel !== undefined;
  if (loopbackCfg?.passesIsoPath && !(extra.length > 0 && canRecipe)) {
    if (extra.length > 0) warnings.push(`${iso.name}: its loopback.cfg boots it, so the extra kernel parameters are not used`);
    return { method: 'loopback-cfg', platform: 'any', lines: loopbackCfgLines(loopbackCfg.path) };
  }
  if (recipe?.kernel !== undefined) return recipeEntry(recipe as BootRecipe & { kernel: string }, extra);
  const why = loopbackCfg
    ? `${iso.name}: its loopback.cfg does not pass the ISO path to the kernel and its family is not known; the entry tries it anyway`
    : `${iso.name}: no known distro family and no loopback.cfg; the entry tries /boot/grub/loopback.cfg anyway`;
  warnings.push(why);
  return { method: 'try-loopback-cfg', platform: 'any', comment: why, lines: loopbackCfgLines(loopbackCfg?.path ?? '/boot/grub/loopback.cfg') };
}

function loopbackCfgLines(path: string): string[] {
  return ['loopback loop "$iso_path"', 'set root=(loop)', `configfile ${grubQuote(path)}`];
}

function recipeEntry(recipe: BootRecipe & { kernel: string }, extra: string[]): EntryBody {
  const params = (recipe.params ?? '').split(/\s+/).filter(Boolean);
  const lines = ['loopback loop "$iso_path"'];
  if (params.some((p) => p.includes('${isolabel}'))) lines.push('probe --set isolabel --label (loop)');
  // Recipe words keep ${…} expansion (double quotes); anything else is single-quoted, taken literally.
  const words = params.map((p) => (RECIPE_VARIABLES.test(p) ? `"${p.replace(/["\\]/g, '\\$&')}"` : grubQuote(p)));
  lines.push(['linux', grubQuote(`(loop)${recipe.kernel}`), ...words, ...extra.map(grubQuote)].join(' '));
  const initrds = recipe.initrd ?? [];
  if (initrds.length) lines.push(['initrd', ...initrds.map((i) => grubQuote(`(loop)${i}`))].join(' '));
  return { method: 'recipe', platform: 'any', lines };
}

/**
 * memtest86+ and iPXE: chainload the EFI program under UEFI, `linux` the BIOS image under BIOS. Extra parameters
 * become the program's command line (GRUB hands chainloader's arguments over as the image's load options).
 */
function loaderEntry(iso: MenuIso, recipe: BootRecipe | null, extra: string[], warnings: string[]): EntryBody | undefined {
  const efi = iso.loaders?.efi ?? (recipe?.efiLoader ? `(loop)${recipe.efiLoader}` : undefined);
  const bios = iso.loaders?.bios ?? (recipe?.biosKernel ? `(loop)${recipe.biosKernel}` : undefined);
  const needsLoop = [efi, bios].some((p) => p?.startsWith('(loop)'));
  const args = extra.map((p) => ` ${grubQuote(p)}`).join('');
  const head = needsLoop ? ['loopback loop "$iso_path"'] : [];
  if (efi && bios) {
    return {
      method: 'chainload', platform: 'any',
      lines: [...head, 'if [ "$grub_platform" = efi ]; then', `  chainloader ${grubQuote(efi)}${args}`, 'else',
        `  linux ${grubQuote(bios)}${args}`, 'fi'],
    };
  }
  if (efi) return { method: 'chainload', platform: 'efi', lines: [...head, `chainloader ${grubQuote(efi)}${args}`] };
  if (bios) return { method: 'chainload', platform: 'pc', lines: [...head, `linux ${grubQuote(bios)}${args}`] };
  warnings.push(`${iso.name}: ${FAMILY_TITLES[iso.inspection.family]} without a loader Bootkey can start; no menu entry`);
  return undefined;
}

function extraParams(text: string | undefined): string[] {
  return (text ?? '').split(/\s+/).filter(Boolean);
}
