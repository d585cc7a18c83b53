// One completion from prompt tokens to text: the sequence submitted to the engine, each token turned into text as it
// comes, stop strings applied, and the end (stop or length) with the counts the usage reports. Streaming and
// non-streaming answers are built from the same deltas, so they always say the same.
import { ApiError } from './errors.js';
import type { GenerativeModel } from './model.js';
import type { GenerationFields } from './requests.js';
import { StopStrings } from './stop.js';

export type FinishReason = 'stop' | 'length';

export interface Delta {
  text: string;
  /** Tokens generated since the last delta. */
  tokenIds: number[];
}

export interface Finished {
  finishReason: FinishReason;
  text: string;
  tokenIds: number[];
  promptTokens: number;
  completionTokens: number;
}

export interface RunningCompletion {
  done: Promise<Finished>;
  /** The client went away: stop generating and free the sequence's cache. */
  cancel(): void;
}

/**
 * Starts a completion of `prompt` (token ids) for up to `maxTokens` tokens. `onDelta` gets text as it may be shown
 * (never what a stop string later cuts), and with return_token_ids every token as it comes. Refuses at once when
 * the engine's queue is full.
 */
export function startCompletion(model: GenerativeModel, prompt: readonly number[], maxTokens: number, f: GenerationFields, arrived: number, onDelta?: (d: Delta) => void): RunningCompletion {
  const detokenizer = model.tokenizer.detokenizer();
  const stops = new StopStrings(f.stop);
  const tokenIds: number[] = [];
  let pendingIds: number[] = [];
  let text = '';
  let settled = false;
  let resolve!: (f: Finished) => void;
  let reject!: (e: Error) => void;
  const done = new Promise<Finished>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const emit = (piece: string) => {
    text += piece;
    if (onDelta && (piece !== '' || (f.returnTokenIds && pendingIds.length > 0))) {
      onDelta({ text: piece, tokenIds: pendingIds });
      pendingIds = [];
    }
  };
  const finish = (finishReason: FinishReason) => {
    settled = true;
    resolve({ finishReason, text, tokenIds, promptTokens: prompt.length, completionTokens: tokenIds.length });
  };
  const handle = model.engine.submit({ prompt, maxTokens, sampling: model.sampling(f), ignoreEos: f.ignoreEos, arrived }, {
    token(id) {
      if (settled) return;
      tokenIds.push(id);
      pendingIds.push(id);
      const { emit: piece, stopped } = stops.push(detokenizer.push(id));
      emit(piece);
      if (stopped) {
        handle.cancel();
        finish('stop');
      }
    },
    end(end, error) {
      if (settled) return;
      if (end === 'failed') {
        settled = true;
        reject(new ApiError(500, `generation failed: ${error ?? 'the model run failed'}`, null, 'generation_failed'));
        return;
      }
      const { emit: piece, stopped } = stops.push(detokenizer.flush());
      emit(stopped ? piece : piece + stops.flush());
      finish(stopped || end === 'eos' ? 'stop' : 'length');
    },
  });
  return {
    done,
    cancel: () => {
      if (settled) return;
      settled = true;
      handle.cancel();
      reject(new ApiError(499, 'the client closed the connection', null, 'client_closed'));
    },
  };
}
