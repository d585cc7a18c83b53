// Text to tokens and back with the model directory's tokenizer.json (@huggingface/tokenizers), chat messages to a
// prompt with its chat template (@huggingface/jinja), and tokens to text one token at a time.
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
}

/** The text of a special token as tokenizer_config.json gives it: a string, or an AddedToken object. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** A chat template that refuses a conversation (its raise_exception, or a failure rendering it), with the reason. */
export class ChatTemplateError extends Error {}

export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly template?: Template;
  private readonly specials: Record<string, string>;

  constructor(tokenizerJson: object, config: Record<string, unknown>) {
    this.tokenizer = new Tokenizer(tokenizerJson, config);
    const chat = config.chat_template;
    // A list of named templates (tool use, RAG) as some models ship: the default one.
    const source = typeof chat === 'string' ? chat
      : Array.isArray(chat) ? (chat.find((t) => t?.name === 'default') ?? chat[0])?.template as string | undefined
      : undefined;
    if (source) this.template = new Template(source);
    this.specials = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const text = tokenText(config[key]);
      if (text !== undefined) this.specials[key] = text;
    }
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  /** The id of a token's text (a special token's, such as the one of eos_token), if the vocabulary has it. */
  tokenId(text: string): number | undefined {
    return this.tokenizer.token_to_id(text);
  }

  specialToken(key: 'bos_token' | 'eos_token' | 'pad_token'): string | undefined {
    return this.specials[key];
  }

  encode(text: string, addSpecialTokens: boolean): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: readonly number[]): string {
    return ids.length === 0 ? '' : this.tokenizer.decode(ids as number[], { skip_special_tokens: true });
  }

  /** The prompt of a conversation, ending with the assistant's turn begun. */
  applyChatTemplate(messages: readonly ChatMessage[]): string {
    if (!this.template) throw new ChatTemplateError('this model has no chat template (tokenizer_config.json chat_template); use /v1/completions');
    try {
      // The template's raise_exception (jinja's own) refuses a conversation it cannot render, with its reason.
      return this.template.render({ messages, add_generation_prompt: true, ...this.specials });
    } catch (err) {
      throw new ChatTemplateError(`the chat template refused the conversation: ${(err as Error).message}`);
    }
  }

  detokenizer(): Detokenizer {
    return new Detokenizer((ids) => this.decode(ids));
  }
}

/**
 * Tokens to text as they come. Each token is decoded with a few tokens before it (a decoder may drop a word's leading
 * space at the start of what it decodes), and text is let out only once it does not end in an incomplete character.
 */
export class Detokenizer {
  private ids: number[] = [];
  private prefix = 0;
  private read = 0;

  constructor(private readonly decode: (ids: readonly number[]) => string) {}

  push(id: number): string {
    this.ids.push(id);
    return this.next(false);
  }

  /** What is left when the sequence ends (an incomplete character included, as the replacement character). */
  flush(): string {
    return this.next(true);
  }

  private next(final: boolean): string {
    const before = this.decode(this.ids.slice(this.prefix, this.read));
    const text = this.decode(this.ids.slice(this.prefix));
    if (text.length <= before.length || (!final && text.endsWith('\uFFFD'))) return '';
    this.prefix = this.read;
    this.read = this.ids.length;
    // Keep the window short: decoding starts again from the last token let out.
    return text.startsWith(before) ? text.slice(before.length) : text.slice(commonPrefix(before, text));
  }
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
