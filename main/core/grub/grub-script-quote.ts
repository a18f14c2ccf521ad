/**
 * GRUB's script lexer follows the shell: inside single quotes nothing is special, and a single quote itself is
 * written as `'\''`. Control characters (a newline would end the command) never reach a menu: they are shown
 * as `?`, since file names and titles are display text here and paths with them are refused earlier.
 */
export function grubQuote(text: string): string {
  const printable = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return `'${printable.replace(/'/g, `'\\''`)}'`;
}

/** A comment line: GRUB ends a comment at the newline, so anything else may follow `#`. */
export function grubComment(text: string): string {
  return text
    .split('\n')
    .map((line) => `# ${line.replace(/[\u0000-\u001f\u007f]/g, '?')}`.trimEnd())
    .join('\n');
}
