/** UEFI architectures Bootkey names, as in the removable-media loader names BOOT<ARCH>.EFI. */
export type EfiArch = 'x64' | 'ia32' | 'aa64' | 'arm' | 'riscv64' | 'loongarch64';

/** The removable-media file name UEFI firmware looks for on each architecture (UEFI spec 3.5.1.1). */
export const REMOVABLE_LOADER: Record<EfiArch, string> = {
  x64: 'BOOTX64.EFI',
  ia32: 'BOOTIA32.EFI',
  aa64: 'BOOTAA64.EFI',
  arm: 'BOOTARM.EFI',
  riscv64: 'BOOTRISCV64.EFI',
  loongarch64: 'BOOTLOONGARCH64.EFI',
};

const MACHINES: Record<number, EfiArch> = {
  0x8664: 'x64',
  0x014c: 'ia32',
  0xaa64: 'aa64',
  0x01c2: 'arm',
  0x01c4: 'arm',
  0x5064: 'riscv64',
  0x6264: 'loongarch64',
};

/** How many bytes of a file `peMachine` needs to see for any sane PE file (DOS stub + COFF header). */
export const PE_HEADER_PROBE = 4096;

/**
 * The architecture of a PE/COFF image from its first bytes: 'MZ', the PE header offset at 0x3c, 'PE\0\0',
 * then the COFF machine field. Undefined for anything that is not a PE image of a UEFI architecture.
 */
export function peMachine(head: Uint8Array): EfiArch | undefined {
  if (head.length < 0x40 || head[0] !== 0x4d || head[1] !== 0x5a) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const pe = view.getUint32(0x3c, true);
  if (pe + 6 > head.length) return undefined;
  if (view.getUint32(pe, false) !== 0x50450000) return undefined;
  return MACHINES[view.getUint16(pe + 4, true)];
}
