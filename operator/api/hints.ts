// Hints for the two mistakes a hand-written manifest makes most: a field name typed slightly wrong (`url` for
// `uri`), and a value YAML read as a number where the schema wants a string (a sha256 of digits only, or of digits
// around one `e`, which YAML reads as scientific notation). They are appended to the validation messages, so render,
// local mode and the operator's InvalidSpec condition all carry them.

/** Edit distance with adjacent transpositions (optimal string alignment): `uri`/`url` 1, `repilcas`/`replicas` 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The known field names an unknown one is probably a typo of: those at the smallest distance (ignoring case), when
 * that is at most a third of the name's length (at least 1). None when nothing is that close.
 */
export function closestNames(name: string, known: readonly string[]): string[] {
  const lower = name.toLowerCase();
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best = Infinity;
  let out: string[] = [];
  for (const k of known) {
    if (k === name) continue;
    const d = editDistance(lower, k.toLowerCase());
    if (d > limit || d > best) continue;
    if (d < best) {
      best = d;
      out = [];
    }
    out.push(k);
  }
  return out.sort();
}

/** `did you mean uri?` (or `did you mean a or b?`) for an unknown field among `known`; undefined when nothing is close. */
export function didYouMean(name: string, known: readonly string[]): string | undefined {
  const close = closestNames(name, known);
  if (!close.length) return undefined;
  return `did you mean ${close.length === 1 ? close[0] : `${close.slice(0, -1).join(', ')} or ${close.at(-1)}`}?`;
}

/** For a number where a string belongs: YAML read it as a number, and quoting it keeps it a string. */
export function quoteHint(field: string, value: unknown): string | undefined {
  if (typeof value !== 'number') return undefined;
  const key = /([A-Za-z0-9_]+)$/.exec(field)?.[1] ?? 'value';
  if (key === 'sha256') {
    return `YAML read this sha256 as the number ${String(value)} (64 digits, or digits around one e such as 1e5..., are a number in YAML): quote it, sha256: "<64 hex digits>"`;
  }
  return `YAML read this value as the number ${String(value)}: quote it, ${key}: "..."`;
}
