// API keys at the gateway (`--api-keys PATH`): which client a request comes from, whether it may call the model it
// names, and whether it is within its rate. PATH is a key file (YAML or JSON: client name -> {key, models,
// requestsPerSecond?, burst?}) or a directory holding one such entry per file, named for its client (a Kubernetes
// Secret mounted as a volume). Keys are kept only as SHA-256 digests: after loading, the process holds no plaintext
// key, and no error, log line or metric ever carries one. A watched store reloads PATH when it changes (a Secret's
// rotation needs no restart) and keeps the previous keys when the new ones are invalid.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import yaml from 'js-yaml';
import type { Logger } from '../common/logger.js';
import { modelNameProblem } from '../common/model-name.js';
import { TokenBucket } from './token-bucket.js';

/** Shorter keys can be guessed by trying them: 16 characters of a random alphabet are beyond that. */
export const KEY_MIN_LENGTH = 16;
const FIELDS = ['key', 'models', 'requestsPerSecond', 'burst'];
const ALL_MODELS = '*';
/** Visible ASCII, no spaces: a key travels in an HTTP header. Checked once, at load (never per request). */
const KEY_CHARACTERS = /^[\x21-\x7e]+$/;
export const DEFAULT_POLL_MS = 2000;
const WATCH_DEBOUNCE_MS = 100;

/** One client, as loaded: its key only as a digest. */
export interface ApiKeyClient {
  readonly name: string;
  /** SHA-256 of the key, hex. */
  readonly keyDigest: string;
  /** The models it may call; undefined when it may call every model ("*"). */
  readonly models: ReadonlySet<string> | undefined;
  /** Its rate limit; undefined when it has none. */
  readonly rate: { readonly requestsPerSecond: number; readonly burst: number } | undefined;
}

/** A key file or directory that cannot be used: every problem, each naming the file, the client and the field. */
export class ApiKeysError extends Error {
  readonly reason = 'InvalidApiKeys';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'ApiKeysError';
  }
}

/** What was read from PATH: the key file, or one entry of a directory (then `client` is the file's name). */
export interface KeySource {
  /** The file, as errors name it. */
  readonly file: string;
  readonly text: string;
  readonly client?: string;
}

/** The digest a key is stored and looked up by. */
export function keyDigest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * The parsed text, or undefined with the problem pushed: YAML's own words and the line, never the excerpt js-yaml
 * adds to its message (that line may hold a key).
 */
function parseYaml(text: string, file: string, problems: string[]): { value: unknown } | undefined {
  try {
    return { value: yaml.load(text) };
  } catch (err) {
    const e = err as { reason?: string; mark?: { line: number } };
    problems.push(`${file}: not valid YAML or JSON${e.mark ? ` at line ${e.mark.line + 1}` : ''}: ${e.reason ?? 'cannot be parsed'}`);
    return undefined;
  }
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The key's problem, in words that never repeat it. */
function keyProblem(key: unknown): string | undefined {
  if (key === undefined) return 'required: the secret the client sends';
  if (typeof key !== 'string') return 'must be a string (quote it)';
  if (key.length < KEY_MIN_LENGTH) return `must be at least ${KEY_MIN_LENGTH} characters: a shorter key can be guessed`;
  if (!KEY_CHARACTERS.test(key)) return 'must hold only visible ASCII characters, no spaces: it travels in an HTTP header';
  return undefined;
}

/** The models an entry allows: undefined for every model. Problems are pushed, naming the field. */
function parseModels(value: unknown, at: string, problems: string[]): ReadonlySet<string> | undefined {
  const rule = 'must be a list of model names or "*"';
  if (value === undefined) return void problems.push(`${at}: required: ${rule}`);
  if (!Array.isArray(value)) return void problems.push(`${at}: ${rule}`);
  if (value.length === 0) return void problems.push(`${at}: ${rule}, and name at least one`);
  const models = new Set<string>();
  value.forEach((m, i) => {
    const problem = typeof m !== 'string' ? rule : m === ALL_MODELS ? undefined : modelNameProblem(m);
    if (problem) problems.push(`${at}[${i}]: ${problem}, got ${JSON.stringify(m)}`);
    else models.add(m as string);
  });
  return models.has(ALL_MODELS) ? undefined : models;
}

/** requestsPerSecond and burst: undefined without a limit. */
function parseRate(entry: Record<string, unknown>, at: string, problems: string[]): ApiKeyClient['rate'] {
  const { requestsPerSecond: rps, burst } = entry;
  if (rps === undefined) {
    if (burst !== undefined) problems.push(`${at}.burst: needs requestsPerSecond (a burst alone limits nothing)`);
    return undefined;
  }
  if (typeof rps !== 'number' || !Number.isFinite(rps) || rps <= 0) {
    problems.push(`${at}.requestsPerSecond: must be a number greater than 0, got ${JSON.stringify(rps)}`);
    return undefined;
  }
  if (burst !== undefined && (typeof burst !== 'number' || !Number.isSafeInteger(burst) || burst < 1)) {
    problems.push(`${at}.burst: must be an integer of at least 1, got ${JSON.stringify(burst)}`);
    return undefined;
  }
  return { requestsPerSecond: rps, burst: (burst as number | undefined) ?? Math.ceil(rps) };
}

/** One client's entry, or undefined with its problems pushed (`file: client.field: reason`). */
export function parseKeyEntry(value: unknown, file: string, client: string, problems: string[]): ApiKeyClient | undefined {
  const at = `${file}: ${client}`;
  if (!isMapping(value)) return void problems.push(`${at}: must be a mapping with key, models and optionally requestsPerSecond and burst`);
  const before = problems.length;
  for (const field of Object.keys(value)) {
    if (!FIELDS.includes(field)) problems.push(`${at}.${field}: unknown field (known: ${FIELDS.join(', ')})`);
  }
  const problem = keyProblem(value.key);
  if (problem) problems.push(`${at}.key: ${problem}`);
  const models = parseModels(value.models, `${at}.models`, problems);
  const rate = parseRate(value, at, problems);
  if (problems.length > before) return undefined;
  return { name: client, keyDigest: keyDigest(value.key as string), models, rate };
}

/** The (file, client, entry) triples of the sources: a key file's mapping, or a directory's one entry per file. */
function entriesOf(sources: readonly KeySource[], problems: string[]): Array<{ file: string; client: string; value: unknown }> {
  return sources.flatMap(({ file, text, client }) => {
    const parsed = parseYaml(text, file, problems);
    if (!parsed) return [];
    if (client !== undefined) return [{ file, client, value: parsed.value }];
    if (!isMapping(parsed.value)) {
      problems.push(`${file}: must be a mapping from client name to {key, models, requestsPerSecond?, burst?}`);
      return [];
    }
    return Object.entries(parsed.value).map(([name, value]) => ({ file, client: name, value }));
  });
}

/** Every client of the sources; throws ApiKeysError naming every problem (a key shared by two clients included). */
export function parseKeySources(sources: readonly KeySource[]): ApiKeyClient[] {
  const problems: string[] = [];
  const entries = entriesOf(sources, problems);
  if (!entries.length && !problems.length) problems.push(`${sources[0]?.file ?? 'API keys'}: names no clients: name at least one (without --api-keys the gateway asks for no key)`);
  const clients: ApiKeyClient[] = [];
  const owners = new Map<string, { file: string; client: string }>();
  for (const { file, client, value } of entries) {
    const parsed = parseKeyEntry(value, file, client, problems);
    if (!parsed) continue;
    const owner = owners.get(parsed.keyDigest);
    if (owner) problems.push(`${file}: ${client}.key: the same key as client ${owner.client}${owner.file === file ? '' : ` (${owner.file})`}: each client needs its own`);
    else owners.set(parsed.keyDigest, { file, client });
    clients.push(parsed);
  }
  if (problems.length) throw new ApiKeysError(problems);
  return clients;
}

/** Every client of a key file's text (YAML or JSON). */
export function parseKeyFile(text: string, file: string): ApiKeyClient[] {
  return parseKeySources([{ file, text }]);
}

/**
 * What PATH holds: the key file, or each file of a directory. Names that start with "." are skipped: dot-files, and
 * the kubelet's `..data` symlink and `..<timestamp>` directories behind a mounted Secret's entries.
 */
export function readKeySources(path: string): KeySource[] {
  try {
    if (!statSync(path).isDirectory()) return [{ file: path, text: readFileSync(path, 'utf8') }];
    return readdirSync(path)
      .filter((name) => !name.startsWith('.'))
      .sort()
      .flatMap((name) => {
        const file = join(path, name);
        return statSync(file).isFile() ? [{ file, client: name, text: readFileSync(file, 'utf8') }] : [];
      });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ApiKeysError([`${e.path ?? path}: cannot be read: ${e.code ?? e.message}`]);
  }
}

/** Every client PATH names (a key file or a directory); throws ApiKeysError. */
export function loadApiKeys(path: string): ApiKeyClient[] {
  return parseKeySources(readKeySources(path));
}

/** A digest of what was read, to tell a change from a poll that finds the same content. */
function sourcesDigest(sources: readonly KeySource[]): string {
  const hash = createHash('sha256');
  for (const s of sources) hash.update(`${s.file}\0${s.text}\0`);
  return hash.digest('hex');
}

/** `Bearer ` in any case, by character codes: no regex and no lower-cased copy on every request. */
function isBearer(auth: string): boolean {
  if (auth.length <= 7 || auth.charCodeAt(6) !== 32) return false;
  for (let i = 0; i < 6; i++) if ((auth.charCodeAt(i) | 0x20) !== 'bearer'.charCodeAt(i)) return false;
  return true;
}

/** The key a request sends: `Authorization: Bearer <key>` (the scheme in any case) or `x-api-key: <key>`. */
export function apiKeyFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth !== undefined && isBearer(auth)) {
    const key = auth.slice(7).trim();
    if (key) return key;
  }
  const header = headers['x-api-key'];
  const key = (Array.isArray(header) ? header[0] : header)?.trim();
  return key || undefined;
}

export type AuthorizationReason = 'MissingApiKey' | 'InvalidApiKey' | 'ModelNotAllowed' | 'RateLimited';

/** A request the gateway may forward, from `client`. */
export interface Granted {
  readonly ok: true;
  readonly client: string;
}

/** A request answered at the gateway: the status, a stable reason, words that never hold the key, headers to send. */
export interface Denied {
  readonly ok: false;
  readonly status: 401 | 403 | 429;
  readonly reason: AuthorizationReason;
  readonly message: string;
  /** The client, once its key is known (403 and 429). */
  readonly client?: string;
  /** `WWW-Authenticate` with a 401, `Retry-After` with a 429. */
  readonly headers: Readonly<Record<string, string>>;
  /** With a 429: whole seconds until the client's next token. */
  readonly retryAfterSeconds?: number;
}

export type Authorization = Granted | Denied;

const CHALLENGE = Object.freeze({ 'WWW-Authenticate': 'Bearer' });
const MISSING_KEY: Denied = Object.freeze({ ok: false, status: 401, reason: 'MissingApiKey', message: 'an API key is required: send it as Authorization: Bearer <key> or x-api-key: <key>', headers: CHALLENGE });
const INVALID_KEY: Denied = Object.freeze({ ok: false, status: 401, reason: 'InvalidApiKey', message: 'the API key is not valid', headers: CHALLENGE });

function modelNotAllowed(client: string, model: string): Denied {
  return { ok: false, status: 403, reason: 'ModelNotAllowed', client, headers: {}, message: `client ${client} may not call model ${JSON.stringify(model)}: its models in the API keys do not name it` };
}

function rateLimited(client: ApiKeyClient, waitSeconds: number): Denied {
  const retryAfterSeconds = Math.max(1, Math.ceil(waitSeconds));
  const { requestsPerSecond, burst } = client.rate!;
  return {
    ok: false, status: 429, reason: 'RateLimited', client: client.name, retryAfterSeconds, headers: { 'Retry-After': String(retryAfterSeconds) },
    message: `client ${client.name} is over its rate limit of ${requestsPerSecond} requests per second (burst ${burst}): retry after ${retryAfterSeconds} s`,
  };
}

/** A client as the store holds it: the answer for its granted requests made once, its bucket when it has a rate. */
interface Entry {
  readonly client: ApiKeyClient;
  readonly granted: Granted;
  readonly bucket: TokenBucket | undefined;
}

export interface WatchOptions {
  log: Logger;
  /** How often PATH is read and compared, besides fs.watch (which misses some of the kubelet's symlink swaps). */
  pollMs?: number;
}

/** How a reload went: nothing changed, the new keys are in use, or they were refused and the previous ones kept. */
export type ReloadResult = 'unchanged' | 'reloaded' | 'failed';

/**
 * The clients and their rate buckets, looked up by the SHA-256 digest of the key a request sends. The lookup is a
 * Map's (by hash), not a constant-time compare: whatever its timing could tell is about digests, and learning a digest
 * bit by bit does not help to find a key that hashes to it. Storing digests also means the process holds no plaintext
 * key once the file is read.
 */
export class KeyStore {
  private byDigest = new Map<string, Entry>();
  private loaded = 0;
  private failures = 0;
  private error: string | undefined;
  private lastLogged: string | undefined;
  private contentDigest: string | undefined;
  private readonly listeners: Array<(store: KeyStore) => void> = [];
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;

  constructor(clients: readonly ApiKeyClient[], nowMs: number = performance.now(), private readonly source?: { path: string; log: Logger }) {
    this.replace(clients, nowMs);
  }

  /** A store of PATH's keys that follows PATH's changes until close(). Throws ApiKeysError when PATH is invalid now. */
  static watch(path: string, { log, pollMs = DEFAULT_POLL_MS }: WatchOptions): KeyStore {
    const sources = readKeySources(path);
    const store = new KeyStore(parseKeySources(sources), performance.now(), { path, log });
    store.contentDigest = sourcesDigest(sources);
    log.info('API keys loaded', { path, clients: store.size });
    store.startWatching(path, pollMs);
    return store;
  }

  /** Whether `headers` may call `model` now; a granted request takes one of its client's tokens. */
  authorize(headers: IncomingHttpHeaders, model: string, nowMs: number = performance.now()): Authorization {
    const key = apiKeyFromHeaders(headers);
    if (key === undefined) return MISSING_KEY;
    const entry = this.byDigest.get(keyDigest(key));
    if (!entry) return INVALID_KEY;
    const { client } = entry;
    if (client.models && !client.models.has(model)) return modelNotAllowed(client.name, model);
    if (entry.bucket) {
      const wait = entry.bucket.take(nowMs);
      if (wait > 0) return rateLimited(client, wait);
    }
    return entry.granted;
  }

  /** The models `headers`'s key may see in a list (every one for "*"), or why it may see none; no token is taken. */
  visible(headers: IncomingHttpHeaders): ((model: string) => boolean) | Denied {
    const key = apiKeyFromHeaders(headers);
    if (key === undefined) return MISSING_KEY;
    const entry = this.byDigest.get(keyDigest(key));
    if (!entry) return INVALID_KEY;
    const models = entry.client.models;
    return models ? (model) => models.has(model) : () => true;
  }

  /** Uses `clients` from now on. A client that stays keeps its bucket's tokens (a new rate applies to them). */
  replace(clients: readonly ApiKeyClient[], nowMs: number = performance.now()): void {
    const buckets = new Map<string, TokenBucket>();
    for (const e of this.byDigest.values()) if (e.bucket) buckets.set(e.client.name, e.bucket);
    const next = new Map<string, Entry>();
    for (const client of clients) {
      let bucket: TokenBucket | undefined;
      if (client.rate) {
        bucket = buckets.get(client.name);
        if (bucket) bucket.reconfigure(client.rate.requestsPerSecond, client.rate.burst, nowMs);
        else bucket = new TokenBucket(client.rate.requestsPerSecond, client.rate.burst, nowMs);
      }
      next.set(client.keyDigest, { client, bucket, granted: Object.freeze({ ok: true, client: client.name }) });
    }
    this.byDigest = next;
    this.loaded++;
  }

  /** Clients loaded now (`modelplane_gateway_api_keys_loaded`). */
  get size(): number {
    return this.byDigest.size;
  }

  /** Counts the key sets used: 1 after the first load, one more for each reload that changed them. */
  get version(): number {
    return this.loaded;
  }

  /** Reloads refused since start (the previous keys stayed in use). */
  get reloadFailures(): number {
    return this.failures;
  }

  /** Why the last reload was refused; undefined once a reload succeeds. */
  get lastError(): string | undefined {
    return this.error;
  }

  /** `listener` is called after each reload that changed the keys. */
  onReload(listener: (store: KeyStore) => void): void {
    this.listeners.push(listener);
  }

  /** Reads PATH again (a watched store only); keeps the previous keys when the new ones are invalid. */
  reload(nowMs: number = performance.now()): ReloadResult {
    if (!this.source) return 'unchanged';
    const { path, log } = this.source;
    let digest: string | undefined;
    try {
      const sources = readKeySources(path);
      digest = sourcesDigest(sources);
      if (digest === this.contentDigest) return 'unchanged';
      this.contentDigest = digest;
      this.replace(parseKeySources(sources), nowMs);
    } catch (err) {
      // What could not be read is read again at the next poll, even when it then reads as it did before.
      if (digest === undefined) this.contentDigest = undefined;
      return this.refuse(err instanceof ApiKeysError ? err : new ApiKeysError([`${path}: ${(err as Error).message}`]), path, log);
    }
    this.error = undefined;
    this.lastLogged = undefined;
    log.info('API keys reloaded', { path, clients: this.size, version: this.version });
    for (const listener of this.listeners) listener(this);
    return 'reloaded';
  }

  /** A refused reload: counted, kept as lastError, logged once for each distinct error. */
  private refuse(err: ApiKeysError, path: string, log: Logger): ReloadResult {
    this.failures++;
    this.error = err.message;
    if (err.message !== this.lastLogged) {
      this.lastLogged = err.message;
      log.error(`API keys not reloaded, the previous ${this.size} clients stay in use: ${err.message}`, { path, reason: err.reason });
    }
    return 'failed';
  }

  /** fs.watch on the directory (a file's, or the directory itself) and a poll: the kubelet's swaps escape some watches. */
  private startWatching(path: string, pollMs: number): void {
    const schedule = () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.reload(), WATCH_DEBOUNCE_MS);
      this.debounce.unref();
    };
    const dir = statSync(path).isDirectory() ? path : dirname(path);
    try {
      this.watcher = watch(dir, schedule);
      this.watcher.on('error', (err: NodeJS.ErrnoException) => {
        this.source?.log.warn('API keys: the watch on changes failed, polling only', { path: dir, error: err.code ?? err.message });
        this.stopWatcher();
      });
    } catch (err) {
      this.source?.log.warn('API keys: cannot watch for changes, polling only', { path: dir, error: (err as NodeJS.ErrnoException).code });
    }
    this.poll = setInterval(() => this.reload(), pollMs);
    this.poll.unref();
  }

  private stopWatcher(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Stops following PATH; the keys loaded stay in use. */
  close(): void {
    this.stopWatcher();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    this.poll = this.debounce = undefined;
  }
}
