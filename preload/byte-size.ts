/**
 * Sizes as drives are labelled (`15.6 GB`, decimal units). Pure and shared: the renderer reaches it here beside
 * the contract, and main/core/drive-policy.ts re-exports it for the command line.
 */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
