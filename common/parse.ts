// The parsers of numbers and durations every command and the runtime's flags share. Pure: each returns the value or
// throws a ParseError whose message names the flag (or field) and the reason; each caller maps it to its own error
// (commander's InvalidArgumentError, the runtime's ConfigError, perf's InvalidArgument).

/** A value that is not what its flag takes. `message` is "<name>: <reason>". */
export class ParseError extends Error {
  constructor(readonly flag: string, readonly reason: string) {
    super(`${flag}: ${reason}`);
    this.name = 'ParseError';
  }
}

const shown = (text: string) => JSON.stringify(text);

export interface IntegerBounds {
  min?: number;
  max?: number;
}

/** What an integer's bounds allow, in words: "from 1 to 64", "of at least 1024", "of at most 10". */
function integerRange(min: number, max: number): string {
  const lo = min > Number.MIN_SAFE_INTEGER;
  const hi = max < Number.MAX_SAFE_INTEGER;
  if (lo && hi) return ` from ${min} to ${max}`;
  if (lo) return ` of at least ${min}`;
  if (hi) return ` of at most ${max}`;
  return '';
}

/** A whole number in decimal digits (a leading minus sign when min is negative), within [min, max]. */
export function parseInteger(text: string, name: string, { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER }: IntegerBounds = {}): number {
  const t = text.trim();
  const n = Number(t);
  if (!/^-?\d+$/.test(t) || !Number.isSafeInteger(n) || n < min || n > max) throw new ParseError(name, `must be an integer${integerRange(min, max)}, got ${shown(text)}`);
  return n;
}

export interface NumberBounds {
  min?: number;
  max?: number;
  /** min itself is refused: the number must be greater than it. */
  above?: boolean;
}

/** A finite decimal number within its bounds. */
export function parseNumber(text: string, name: string, { min = -Infinity, max = Infinity, above = false }: NumberBounds = {}): number {
  const t = text.trim();
  const n = Number(t);
  const low = above ? n <= min : n < min;
  if (t === '' || !Number.isFinite(n) || low || n > max) {
    const lo = min > -Infinity ? (above ? ` greater than ${min}` : ` of at least ${min}`) : '';
    const range = lo && max < Infinity ? `${lo} and at most ${max}` : lo || (max < Infinity ? ` of at most ${max}` : '');
    throw new ParseError(name, `must be a number${range}, got ${shown(text)}`);
  }
  return n;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in words for a message: "100 ms", "1.5 s", "2 min", "30 days". */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${ms / 1000} s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(3)} min`;
  if (ms < 2 * 86_400_000) return `${+(ms / 3_600_000).toFixed(3)} h`;
  return `${+(ms / 86_400_000).toFixed(3)} days`;
}

export interface DurationBounds {
  /** Shortest accepted, ms (default: anything above 0). */
  minMs?: number;
  maxMs?: number;
  /** 0 is accepted (e.g. "no warm-up"), whatever minMs says. */
  allowZero?: boolean;
}

/**
 * A duration in milliseconds, as Go writes them: `500ms`, `10s`, `1.5m`, `2h`, `1m30s`, or a bare number of seconds.
 */
export function parseDuration(text: string, name: string, { minMs, maxMs = Infinity, allowZero = false }: DurationBounds = {}): number {
  const t = text.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(t)) ms = Number(t) * 1000;
  else if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(t)) ms = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)].reduce((sum, m) => sum + Number(m[1]) * UNIT_MS[m[2]], 0);
  else throw new ParseError(name, `must be a duration such as 500ms, 10s, 5m or 1m30s, got ${shown(text)}`);
  ms = Math.round(ms);
  if (ms === 0 && allowZero) return 0;
  if (minMs === undefined && ms <= 0) throw new ParseError(name, `must be longer than 0, got ${shown(text)}`);
  if (minMs !== undefined && ms < minMs) throw new ParseError(name, `must be at least ${formatMs(minMs)}, got ${shown(text)}`);
  if (ms > maxMs) throw new ParseError(name, `must be at most ${formatMs(maxMs)}, got ${shown(text)}`);
  return ms;
}
