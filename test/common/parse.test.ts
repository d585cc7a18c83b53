// The one set of number and duration parsers: what each accepts, and a refusal that names the flag and the reason.
import { formatMs, parseDuration, parseInteger, parseNumber, ParseError } from '../../common/parse.js';

/** The message of the ParseError a parse throws. */
function refusal(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(ParseError);
    return (err as ParseError).message;
  }
  throw new Error('parsed without a refusal');
}

describe('parseInteger', () => {
  test.each<[string, { min?: number; max?: number }, number]>([
    ['5', {}, 5], [' 42 ', { min: 0, max: 100 }, 42], ['0', { min: 0 }, 0], ['-3', { min: -5 }, -3], ['65535', { min: 0, max: 65535 }, 65535],
  ])('%j %j is %d', (text, bounds, want) => expect(parseInteger(text, '--n', bounds)).toBe(want));

  test.each<[string, { min?: number; max?: number }, string]>([
    ['many', { min: 1, max: 64 }, '--n: must be an integer from 1 to 64, got "many"'],
    ['0', { min: 1, max: 64 }, '--n: must be an integer from 1 to 64, got "0"'],
    ['65', { min: 1, max: 64 }, '--n: must be an integer from 1 to 64, got "65"'],
    ['2.5', { min: 1 }, '--n: must be an integer of at least 1, got "2.5"'],
    ['1e3', { min: 1 }, '--n: must be an integer of at least 1, got "1e3"'],
    ['', { max: 3 }, '--n: must be an integer of at most 3, got ""'],
    ['99999999999999999999', {}, '--n: must be an integer, got "99999999999999999999"'],
  ])('refuses %j %j', (text, bounds, message) => {
    expect(refusal(() => parseInteger(text, '--n', bounds))).toBe(message);
  });
});

describe('parseNumber', () => {
  test.each<[string, object, number]>([['1.5', {}, 1.5], ['0', { min: 0 }, 0], [' 100.5 ', { min: 0, above: true }, 100.5]])('%j is %d', (text, bounds, want) => expect(parseNumber(text, '--x', bounds)).toBe(want));

  test.each<[string, object, string]>([
    ['fast', {}, '--x: must be a number, got "fast"'],
    ['', {}, '--x: must be a number, got ""'],
    ['Infinity', {}, '--x: must be a number, got "Infinity"'],
    ['0', { min: 0, above: true }, '--x: must be a number greater than 0, got "0"'],
    ['-1', { min: 0 }, '--x: must be a number of at least 0, got "-1"'],
    ['2000000', { min: 0, above: true, max: 1_000_000 }, '--x: must be a number greater than 0 and at most 1000000, got "2000000"'],
    ['2', { max: 1 }, '--x: must be a number of at most 1, got "2"'],
  ])('refuses %j %j', (text, bounds, message) => expect(refusal(() => parseNumber(text, '--x', bounds))).toBe(message));
});

describe('parseDuration', () => {
  test.each<[string, number]>([
    ['500ms', 500], ['10s', 10_000], ['1.5s', 1500], ['1.5m', 90_000], ['1m30s', 90_000], ['2h', 7_200_000], ['1h2m3s', 3_723_000], ['3', 3000], ['0.25', 250], [' 15s ', 15_000],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text, '--d')).toBe(ms));

  test('0 only where it is allowed; bounds in words', () => {
    expect(parseDuration('0', '--warmup', { allowZero: true })).toBe(0);
    expect(parseDuration('0s', '--warmup', { allowZero: true, minMs: 100 })).toBe(0);
    expect(refusal(() => parseDuration('0s', '--d'))).toBe('--d: must be longer than 0, got "0s"');
    expect(refusal(() => parseDuration('50ms', '--d', { minMs: 100 }))).toBe('--d: must be at least 100 ms, got "50ms"');
    expect(refusal(() => parseDuration('800h', '--d', { maxMs: 30 * 86_400_000 }))).toBe('--d: must be at most 30 days, got "800h"');
    expect(refusal(() => parseDuration('2d', '--d', { maxMs: 86_400_000 }))).toBe('--d: must be a duration such as 500ms, 10s, 5m or 1m30s, got "2d"');
  });

  test.each(['soon', '', '-1s', '1.s', 's', '10 s', '1m30', 'ms'])('refuses %j', (text) => {
    expect(refusal(() => parseDuration(text, '--d'))).toBe(`--d: must be a duration such as 500ms, 10s, 5m or 1m30s, got ${JSON.stringify(text)}`);
  });

  test('a refusal carries the flag and the reason apart', () => {
    let err: ParseError | undefined;
    try {
      parseDuration('x', '--timeout');
    } catch (e) {
      err = e as ParseError;
    }
    expect(err).toMatchObject({ flag: '--timeout', reason: 'must be a duration such as 500ms, 10s, 5m or 1m30s, got "x"', name: 'ParseError' });
  });
});

test.each<[number, string]>([[100, '100 ms'], [1500, '1.5 s'], [90_000, '1.5 min'], [7_200_000, '2 h'], [86_400_000, '24 h'], [30 * 86_400_000, '30 days']])('formatMs(%d) is %s', (ms, text) => expect(formatMs(ms)).toBe(text));
