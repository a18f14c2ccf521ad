// Firmware consoles (OVMF's terminal driver, SeaBIOS's serial console, GRUB, newt) paint the serial line with
// ANSI/VT100 control sequences, so a word on screen can be split by colour and cursor codes. Patterns are matched
// against the text with those sequences removed.

/**
 * A complete escape sequence: CSI (ESC [ … final), OSC (ESC ] … BEL or ST), or a short one (ESC c, ESC ( B).
 * `[` and `]` are left out of the short form so that a CSI or OSC still arriving is never taken as complete.
 */
const ESCAPE = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-Z\\^-~])/g;
const COMPLETE_AT_START = new RegExp(`^(?:${ESCAPE.source})`);
/** Longer than any sequence a console sends: an ESC this far back is stray, not a sequence still arriving. */
const LONGEST_SEQUENCE = 64;

/** Turns raw serial output into plain text as it arrives, holding back an escape sequence split across chunks. */
export class SerialText {
  private pending = '';
  private plain = '';

  push(raw: string): void {
    this.pending += raw;
    const lastEscape = this.pending.lastIndexOf('\x1b');
    let ready = this.pending;
    if (lastEscape >= 0) {
      const tail = this.pending.slice(lastEscape);
      if (!COMPLETE_AT_START.test(tail) && tail.length < LONGEST_SEQUENCE) ready = this.pending.slice(0, lastEscape);
    }
    this.pending = this.pending.slice(ready.length);
    this.plain += ready.replace(ESCAPE, '').replace(/\r/g, '');
  }

  /** Everything printed so far, without control sequences and carriage returns. */
  text(): string {
    return this.plain;
  }
}
