/** A mixed-endian GUID as text, upper case as util-linux prints it (first three fields little-endian). */
export function formatGuid(bytes: Uint8Array, at = 0): string {
  const hex = (from: number, to: number, reverse: boolean): string => {
    const part = Array.from(bytes.subarray(at + from, at + to), (b) => b.toString(16).padStart(2, '0'));
    return (reverse ? part.reverse() : part).join('');
  };
  return [hex(0, 4, true), hex(4, 6, true), hex(6, 8, true), hex(8, 10, false), hex(10, 16, false)].join('-').toUpperCase();
}

export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';
