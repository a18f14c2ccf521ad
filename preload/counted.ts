/**
 * "1 file", "3 files", "1 entry", "2 entries": a count with its noun, for the renderer's and the CLI's messages.
 * Beside the contract, like byte-size.ts, so both front ends share it. Pure: no imports.
 */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
