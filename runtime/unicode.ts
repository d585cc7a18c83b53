// Text that cannot be what it claims: bytes that are not UTF-8, and strings with a lone UTF-16 surrogate (which has no
// UTF-8 form: onnxruntime and the tokenizers would store U+FFFD in its place). Requests carrying either are refused.

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Where a string has a lone UTF-16 surrogate, or -1 when it is well-formed. */
export function loneSurrogateAt(s: string): number {
  const m = LONE_SURROGATE.exec(s);
  return m ? m.index : -1;
}

/** A lone surrogate as the JSON escape a client would have sent: \ud800. */
export function surrogateEscape(s: string, at: number): string {
  return `\\u${s.charCodeAt(at).toString(16)}`;
}

/**
 * Where bytes stop being UTF-8: the offset of the first byte that does not begin a character whose continuation
 * bytes follow (overlong forms, encoded surrogates and code points past U+10FFFF included), or -1 when all are.
 */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    // A character cut short by the end of the bytes is not UTF-8 either.
    if (n === 0 || i + n >= b.length) return i;
    for (let k = 1; k <= n; k++) if ((b[i + k] & 0xc0) !== 0x80) return i;
    const next = b[i + 1];
    if ((c === 0xe0 && next < 0xa0) || (c === 0xed && next >= 0xa0) || (c === 0xf0 && next < 0x90) || (c === 0xf4 && next >= 0x90)) return i;
    i += n + 1;
  }
  return -1;
}
