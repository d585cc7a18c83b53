// One help style for every `modelplane` command: at most 80 columns (fewer on a narrower terminal), every default
// written `(default: VALUE)`, choices `(choices: a, b)` and the environment variable `(env: NAME)` after the
// description, and an Examples section per subcommand. Options whose name or a word of whose description does not fit
// beside the others get their description on the lines below.
import { Help, type Command, type HelpConfiguration, type Option } from 'commander';

export const HELP_WIDTH = 80;
/** The widest option column; a longer option name goes on a line of its own. */
const MAX_TERM_WIDTH = 30;
/** Indent of a description that does not fit in the column (a long environment variable name). */
const STACKED_INDENT = 6;

/** A default written in the description (`... (default 8080)`, `... (default: none)`), moved to where help shows it. */
const INLINE_DEFAULT = /\s*\(default:?\s+([^()]*)\)\s*$/;

/** What help shows as an option's default, if anything (commander's own rule for which options show one). */
export function shownDefault(option: Option): string | undefined {
  if (option.defaultValueDescription) return option.defaultValueDescription;
  if (option.defaultValue === undefined) return undefined;
  const show = option.required || option.optional || (option.isBoolean() && typeof option.defaultValue === 'boolean');
  if (!show) return undefined;
  return Array.isArray(option.defaultValue) ? option.defaultValue.join(',') : String(option.defaultValue);
}

/** The words of a text, where `(env: NAME)`, `(default: X)` and the like stay one word. */
function words(text: string): string[] {
  const out: string[] = [];
  for (const w of text.split(/\s+/).filter(Boolean)) {
    const last = out.at(-1);
    if (last && /^\([a-z]+:$/.test(last)) out[out.length - 1] = `${last} ${w}`;
    else out.push(w);
  }
  return out;
}

/** Words wrapped to `width` (a word longer than that keeps its own line). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of words(paragraph)) {
      if (line && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
  }
  return lines;
}

function optionDescription(option: Option): string {
  const parts = [option.description];
  if (option.argChoices) parts.push(`(choices: ${option.argChoices.join(', ')})`);
  const def = shownDefault(option);
  if (def !== undefined) parts.push(`(default: ${def})`);
  if (option.envVar) parts.push(`(env: ${option.envVar})`);
  return parts.filter(Boolean).join(' ');
}

function formatItem(this: Help, term: string, termWidth: number, description: string): string {
  const width = this.helpWidth ?? HELP_WIDTH;
  if (!description) return `  ${term}`;
  const column = 2 + termWidth + 2;
  const columnWidth = width - column;
  const wordsFit = words(description).every((w) => w.length <= columnWidth);
  if (wordsFit) {
    const lines = wrap(description, columnWidth);
    if (term.length <= termWidth) return [`  ${term.padEnd(termWidth)}  ${lines[0]}`, ...lines.slice(1).map((l) => ' '.repeat(column) + l)].join('\n');
    return [`  ${term}`, ...lines.map((l) => ' '.repeat(column) + l)].join('\n');
  }
  return [`  ${term}`, ...wrap(description, width - STACKED_INDENT).map((l) => ' '.repeat(STACKED_INDENT) + l)].join('\n');
}

export const HELP_CONFIGURATION: HelpConfiguration = {
  optionDescription,
  formatItem,
  padWidth(cmd: Command, helper: Help): number {
    return Math.min(MAX_TERM_WIDTH, Help.prototype.padWidth.call(helper, cmd, helper));
  },
  prepareContext(this: Help, context: { helpWidth?: number }): void {
    this.helpWidth = Math.min(HELP_WIDTH, context.helpWidth ?? HELP_WIDTH);
  },
};

/** `Examples:` and one `$ command` line per example (a `# comment` line before it), for addHelpText('after'). */
export function examples(lines: readonly (readonly [comment: string, command: string])[]): string {
  return `\nExamples:\n${lines.map(([comment, command]) => `  # ${comment}\n  $ ${command}`).join('\n')}\n`;
}

/**
 * Gives a command and all its subcommands the one help style: inline defaults moved out of the descriptions (so
 * every default is written the same way), the layout above, and errors that show the help.
 */
export function applyHelpStyle(cmd: Command): void {
  for (const option of cmd.options as Option[]) {
    const m = INLINE_DEFAULT.exec(option.description ?? '');
    if (!m) continue;
    option.description = option.description.slice(0, m.index);
    // `1: off` reads `1, off` after `default:`.
    option.defaultValueDescription ??= m[1].replace(/^([^\s:]+): /, '$1, ');
  }
  cmd.configureHelp(HELP_CONFIGURATION);
  for (const sub of cmd.commands) applyHelpStyle(sub);
}
