// The text checks requests pass through: where bytes stop being UTF-8 (agreeing with a strict decoder on every input),
// and where a string holds a lone surrogate.
import { isUtf8 } from 'node:buffer';
import { firstInvalidUtf8, loneSurrogateAt, surrogateEscape } from '../../runtime/unicode.js';

const strict = new TextDecoder('utf-8', { fatal: true });

/** The longest prefix a strict decoder takes whole, found by trying each end: the reference for the first bad byte. */
function reference(b: Uint8Array): number {
  if (isUtf8(b)) return -1;
  let good = 0;
  for (let end = 1; end <= b.length; end++) {
    try {
      strict.decode(b.subarray(0, end));
      good = end;
    } catch {
      // A prefix that ends inside a character is not whole yet.
    }
  }
  return good;
}

test.each<[string, number[], number]>([
  ['ASCII', [0x61, 0x62], -1],
  ['two, three and four bytes', [0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80], -1],
  ['a stray continuation byte', [0x61, 0x80], 1],
  ['0xff', [0x61, 0x62, 0xff], 2],
  ['an overlong slash', [0xc0, 0xaf], 0],
  ['an overlong three-byte form', [0xe0, 0x80, 0xaf], 0],
  ['an encoded surrogate', [0x61, 0xed, 0xa0, 0x80], 1],
  ['past U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0],
  ['a character cut short at the end', [0x61, 0xe2, 0x82], 1],
  ['a character cut short by ASCII', [0xe2, 0x82, 0x61], 0],
])('%s', (_name, bytes, at) => {
  const b = Uint8Array.from(bytes);
  expect(firstInvalidUtf8(b)).toBe(at);
  expect(reference(b)).toBe(at);
});

test('agrees with a strict decoder on random bytes', () => {
  let seed = 7;
  const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const pool = [0x61, 0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xa0, 0x90, 0x9f];
  for (let n = 0; n < 3000; n++) {
    const b = Uint8Array.from({ length: 1 + (next() % 6) }, () => pool[next() % pool.length]);
    expect([Array.from(b), firstInvalidUtf8(b)]).toEqual([Array.from(b), reference(b)]);
  }
});

test('lone surrogates: where, and as the JSON escape; pairs are characters', () => {
  expect(loneSurrogateAt('ok \u{1F600}')).toBe(-1);
  expect(loneSurrogateAt('a\ud800b')).toBe(1);
  expect(loneSurrogateAt('\udc00')).toBe(0);
  expect(loneSurrogateAt('\ud83d\ude00\ud83d')).toBe(2);
  expect(surrogateEscape('a\ud800', 1)).toBe('\\ud800');
});
