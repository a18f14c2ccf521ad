import type { FileSystemTree } from '../filesystem-tree.js';

/** The GRUB config an ISO ships for being booted from a file (`loopback loop x.iso; configfile …`). */
export interface LoopbackCfg {
  path: string;
  /**
   * Whether its `linux` lines hand the ISO's path to the kernel (`${iso_path}`); without that the live
   * system cannot find its own ISO after boot (Linux Mint 21.3), so the menu must not rely on it.
   */
  passesIsoPath: boolean;
}

const LOCATIONS = ['/boot/grub/loopback.cfg', '/boot/grub2/loopback.cfg'];
/** Real ones are a few kB; a larger one is not read, and not relied on (the family's own entry is used). */
const MAX_BYTES = 1024 * 1024;

export async function findLoopbackCfg(tree: FileSystemTree): Promise<LoopbackCfg | undefined> {
  for (const path of LOCATIONS) {
    const entry = await tree.stat(path);
    if (entry?.kind !== 'file') continue;
    if (entry.size > MAX_BYTES) return { path: entry.path, passesIsoPath: false };
    const text = new TextDecoder().decode(await tree.readFile(path, MAX_BYTES));
    return { path: entry.path, passesIsoPath: kernelLinesUseIsoPath(text) };
  }
  return undefined;
}

/** True when some `linux`/`linuxefi`/`linux16` command line mentions `$iso_path` or `${iso_path}`. */
export function kernelLinesUseIsoPath(config: string): boolean {
  return config
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^(linux|linuxefi|linux16)\s/.test(line))
    .some((line) => /\$\{?iso_path\}?/.test(line));
}
