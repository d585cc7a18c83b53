// Writes the example ONNX models into examples/models/ (or the directory given as the first argument),
// one JSON log line per model with its path, size and sha256. The models are built in code, so the same
// bytes come out on every machine and the sha256 pinned in examples/cpu.yaml and examples/local/ stays valid.
// Beside the single-file models, chat/ is a generative model directory (a tiny decoder with its tokenizer, see
// decoder-model.ts); its sha256 is model.onnx's, as a ModelDeployment pins a directory.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../common/logger.js';
import { writeDecoderModelDir } from './decoder-model.js';
import { type GraphSpec, imageModel, mlpModel, simpleModel, writeModel } from './onnx-models.js';

export interface ExampleModel {
  file: string;
  description: string;
  graph: () => GraphSpec;
}

/** The models the examples and the local quickstart serve. */
export const EXAMPLE_MODELS: ExampleModel[] = [
  { file: 'simple.onnx', description: 'OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1, FP32 [batch, 16]', graph: () => simpleModel() },
  { file: 'image.onnx', description: 'image features: FP32 [batch, 3, 224, 224] -> [batch, 8]', graph: () => imageModel() },
  { file: 'mlp.onnx', description: 'MLP, 3 layers of 128: FP32 [batch, 128] -> [batch, 128]', graph: () => mlpModel(128, 3) },
];

export interface WrittenModel {
  path: string;
  bytes: number;
  sha256: string;
  inputs: string[];
  outputs: string[];
}

/** The generative example: a directory under the models' directory. */
export const CHAT_MODEL_DIR = 'chat';

/** What the chat example's directory holds besides model.onnx. */
export interface WrittenModelDir {
  path: string;
  bytes: number;
  /** model.onnx's: what spec.model.sha256 pins for a directory. */
  sha256: string;
  files: string[];
}

/**
 * Writes the chat example's model directory into `dir`/chat: a small decoder (a context of 1024 tokens) with its
 * tokenizer and a ChatML template. It appears whole or not at all (written beside, then renamed into place).
 */
export function buildChatModel(dir: string): WrittenModelDir {
  const path = join(dir, CHAT_MODEL_DIR);
  const partial = `${path}.${process.pid}.partial`;
  rmSync(partial, { recursive: true, force: true });
  writeDecoderModelDir(partial, { maxPositions: 1024 });
  rmSync(path, { recursive: true, force: true });
  renameSync(partial, path);
  const files = readdirSync(path).sort();
  const model = readFileSync(join(path, 'model.onnx'));
  return { path, bytes: files.reduce((n, f) => n + readFileSync(join(path, f)).length, 0), sha256: createHash('sha256').update(model).digest('hex'), files };
}

/** Writes every example model into `dir`; each file appears whole or not at all (write, then rename). */
export function buildExampleModels(dir: string): WrittenModel[] {
  mkdirSync(dir, { recursive: true });
  return EXAMPLE_MODELS.map((m) => {
    const g = m.graph();
    const path = join(dir, m.file);
    const partial = `${path}.${process.pid}.partial`;
    writeModel(partial, g);
    renameSync(partial, path);
    const bytes = readFileSync(path);
    return {
      path,
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      inputs: g.inputs.map((i) => `${i.name} ${i.type} [${i.shape.join(',')}]`),
      outputs: g.outputs.map((o) => `${o.name} ${o.type} [${o.shape.join(',')}]`),
    };
  });
}

// dist/examples/build-models.js -> <repo>/examples/models
const DEFAULT_DIR = fileURLToPath(new URL('../../examples/models', import.meta.url));

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const log = createLogger('examples');
  const dir = resolve(process.argv[2] ?? DEFAULT_DIR);
  try {
    for (const m of buildExampleModels(dir)) log.info('wrote example model', m);
    log.info('wrote example model directory', buildChatModel(dir));
  } catch (err) {
    log.error('could not write the example models', { dir, error: (err as Error).message });
    process.exitCode = 1;
  }
}
