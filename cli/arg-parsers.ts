// The common parsers (common/parse.ts) as commander argument parsers: a refusal becomes commander's
// InvalidArgumentError with the same message, naming the flag and the reason.
import { InvalidArgumentError } from 'commander';
import { parseDuration, parseInteger, parseNumber, ParseError, type DurationBounds, type IntegerBounds, type NumberBounds } from '../common/parse.js';

function commanderParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      if (err instanceof ParseError) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

/** An integer flag within [min, max]. */
export const integerArg = (name: string, bounds: IntegerBounds = {}) => commanderParser((v) => parseInteger(v, name, bounds));

/** A number flag within its bounds. */
export const numberArg = (name: string, bounds: NumberBounds = {}) => commanderParser((v) => parseNumber(v, name, bounds));

/** A duration flag (`15s`, `500ms`, `1m30s`, bare seconds), in milliseconds. */
export const durationArg = (name: string, bounds: DurationBounds = {}) => commanderParser((v) => parseDuration(v, name, bounds));

/**
 * The settings `decide` reads from a command's parsed flags; a flag it refuses is said on stderr, naming the command,
 * and the process exits 2 (a usage error), before anything starts.
 */
export function settingsOrExit<T>(command: string, decide: () => T): T {
  try {
    return decide();
  } catch (err) {
    process.stderr.write(`modelplane ${command}: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
