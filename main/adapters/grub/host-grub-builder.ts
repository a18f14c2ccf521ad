import { execFile } from 'node:child_process';
import { access, constants, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { BootkeyError } from '../../core/errors.js';
import {
  chooseGrubTools, EFI_FOLDERS, EFI_ONLY_MODULES, GRUB_MODULES, MKIMAGE_CANDIDATES, PC_FOLDERS, PC_ONLY_MODULES,
} from '../../core/grub/grub-tools.js';
import type { GrubBuilder } from '../../ports/grub-builder.js';
import { translateErrno } from '../fs/image-files.js';

const run = promisify(execFile);
const SECTOR = 512;
/** boot.img's code ends where the disk signature and the partition table begin. */
const MBR_CODE_BYTES = 440;

async function onPath(command: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (await access(join(dir, command), constants.X_OK).then(() => true, () => false)) return true;
  }
  return false;
}

async function osIds(): Promise<string[]> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
  return text.split('\n').filter((line) => /^(ID|ID_LIKE)=/.test(line))
    .flatMap((line) => line.slice(line.indexOf('=') + 1).replace(/"/g, '').toLowerCase().split(/\s+/));
}

/** Runs a GRUB tool; a failure becomes IO_ERROR with the tool's own last words. */
async function grubTool(program: string, args: string[]): Promise<void> {
  try {
    await run(program, args, { maxBuffer: 1 << 20 });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim().slice(-500);
    throw new BootkeyError('IO_ERROR', `${program} failed: ${stderr}`, { program });
  }
}

async function withTemp<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'bootkey-grub-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** GRUB from the host: Debian's grub-* or Fedora's grub2-* tools and their platform folders. */
export const hostGrubBuilder: GrubBuilder = {
  async tools(needBios) {
    const commands = new Set<string>();
    for (const c of MKIMAGE_CANDIDATES) if (await onPath(c)) commands.add(c);
    const folders = new Set<string>();
    for (const f of [...EFI_FOLDERS, ...PC_FOLDERS]) {
      if (await access(join(f, 'modinfo.sh'), constants.R_OK).then(() => true, () => false)) folders.add(f);
    }
    return chooseGrubTools({ osIds: await osIds(), commands, folders }, needBios);
  },

  buildEfiImage(tools) {
    return withTemp(async (dir) => {
      const out = join(dir, 'BOOTX64.EFI');
      // No device in the prefix: GRUB EFI takes the partition it was loaded from, wherever the key sits.
      await grubTool(tools.mkimage, ['-O', 'x86_64-efi', '-d', tools.efiModules, '-o', out, '-p', '/boot/grub',
        ...GRUB_MODULES, ...EFI_ONLY_MODULES]);
      return new Uint8Array(await readFile(out));
    });
  },

  async moduleFiles(folder) {
    const names = (await readdir(folder)).filter((n) => /\.(mod|lst)$/.test(n)).sort();
    return Promise.all(names.map(async (name) => ({ name, path: join(folder, name), size: (await stat(join(folder, name))).size })));
  },

  installBiosIntoImage(tools, imageFile, fsUuid, gapEnd) {
    if (!tools.pcModules) throw new BootkeyError('MISSING_TOOL', "GRUB's i386-pc modules are not installed");
    const pcModules = tools.pcModules;
    if (!/^[0-9A-Fa-f-]+$/.test(fsUuid)) throw new BootkeyError('INVALID_ARGUMENT', `unexpected filesystem UUID '${fsUuid}'`);
    return withTemp(async (dir) => {
      const cfg = join(dir, 'embed.cfg');
      const core = join(dir, 'core.img');
      // Find the key's filesystem by UUID, not as (hd0,msdos1): the key is not the first disk on every machine.
      await writeFile(cfg, `search --no-floppy --fs-uuid --set=root ${fsUuid}\nset prefix=($root)/boot/grub\n`);
      await grubTool(tools.mkimage, ['-O', 'i386-pc', '-d', pcModules, '-o', core, '-c', cfg, '-p', '/boot/grub',
        ...GRUB_MODULES, ...PC_ONLY_MODULES]);
      const coreBytes = new Uint8Array(await readFile(core));
      if (SECTOR + coreBytes.length > gapEnd) {
        throw new BootkeyError('NOT_ENOUGH_SPACE', `GRUB's core.img (${coreBytes.length} bytes) does not fit before the first partition`);
      }
      // boot.img loads core.img from sector 1, and grub-mkimage writes core.img's length into its first sector.
      const bootImg = new Uint8Array(await readFile(join(pcModules, 'boot.img')));
      let handle;
      try {
        handle = await open(imageFile, 'r+');
        const mbr = new Uint8Array(SECTOR);
        await handle.read(mbr, 0, SECTOR, 0);
        if (mbr[510] !== 0x55 || mbr[511] !== 0xaa) throw new BootkeyError('TARGET_REFUSED', `${imageFile} has no MBR`);
        await handle.write(coreBytes, 0, coreBytes.length, SECTOR);
        await handle.datasync();
        // The MBR code last: a crash before this leaves the old boot code, never one pointing at half a core.img.
        await handle.write(bootImg, 0, MBR_CODE_BYTES, 0);
        await handle.datasync();
      } catch (error) {
        throw translateErrno(error, imageFile);
      } finally {
        await handle?.close();
      }
    });
  },

  async listFolder(path) {
    try {
      return await readdir(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw translateErrno(error, path);
    }
  },
};
