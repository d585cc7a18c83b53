// Stop strings over streamed text: text is let out only once it cannot be the start of a stop string, so a stream
// never shows a client what the finished answer leaves out, and the answer ends before the first stop string.

export class StopStrings {
  private held = '';

  constructor(private readonly stops: readonly string[]) {}

  /** Takes new text; returns what may be shown now, and whether a stop string ended the text. */
  push(text: string): { emit: string; stopped: boolean } {
    const pending = this.held + text;
    let first = -1;
    for (const s of this.stops) {
      const at = pending.indexOf(s);
      if (at !== -1 && (first === -1 || at < first)) first = at;
    }
    if (first !== -1) {
      this.held = '';
      return { emit: pending.slice(0, first), stopped: true };
    }
    // Hold back the longest end of the text that some stop string begins with.
    let keep = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, pending.length); n > keep; n--) {
        if (pending.endsWith(s.slice(0, n))) {
          keep = n;
          break;
        }
      }
    }
    this.held = pending.slice(pending.length - keep);
    return { emit: pending.slice(0, pending.length - keep), stopped: false };
  }

  /** The text held back, when the answer ended for another reason. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }
}
