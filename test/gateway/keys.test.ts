// API keys: the key file and the Secret's directory are read with every problem named by file, client and field;
// authorize() answers 401, 403 and 429 (the token bucket on an injected clock); a watched store follows the kubelet's
// `..data` swap and keeps the previous keys when new ones are invalid; and no key ever shows in an error or a log line.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import yaml from 'js-yaml';
import { apiKeyFromHeaders, ApiKeysError, keyDigest, KeyStore, loadApiKeys, parseKeyFile, type Denied } from '../../gateway/keys.js';
import { memoryLogger } from '../support/memory-logger.js';
import { waitFor } from '../support/wait-for.js';

const KEY_A = 'mp_team_a_3f9c0d1e2b7a';
const KEY_B = 'mp_team_b_8e21f04cc9d3';
const KEY_ADMIN = 'mp_admin_a1b2c3d4e5f6a7';
const KEY_NEW = 'mp_team_a_rotated_77aa01';
const ALL_KEYS = [KEY_A, KEY_B, KEY_ADMIN, KEY_NEW];

const KEY_FILE = `
team-a:
  key: ${KEY_A}
  models: [resnet, chat]
  requestsPerSecond: 2
team-b:
  key: ${KEY_B}
  models: [chat]
  requestsPerSecond: 0.5
  burst: 3
admin:
  key: ${KEY_ADMIN}
  models: ["*"]
`;

const root = mkdtempSync(join(tmpdir(), 'modelplane-keys-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => {
  const dir = join(root, `d${dirs++}`);
  mkdirSync(dir);
  return dir;
};

/** Every message thrown or logged in a test, to check that no key shows in any of them. */
const seen: string[] = [];
afterEach(() => {
  for (const text of seen.splice(0)) for (const key of ALL_KEYS) expect(text).not.toContain(key);
});

/** The problems of the ApiKeysError `load` throws. */
function refusal(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiKeysError);
    seen.push((err as Error).message, String((err as Error).stack));
    return [...(err as ApiKeysError).problems];
  }
  throw new Error('loaded without a refusal');
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const denied = (a: ReturnType<KeyStore['authorize']>): Denied => {
  if (a.ok) throw new Error(`granted to ${a.client}`);
  seen.push(a.message);
  return a;
};

describe('the key file', () => {
  test('YAML and JSON give the same clients, each key only as its digest', () => {
    const fromYaml = parseKeyFile(KEY_FILE, 'keys.yaml');
    const fromJson = parseKeyFile(JSON.stringify(yaml.load(KEY_FILE)), 'keys.json');
    expect(fromJson).toEqual(fromYaml);
    expect(fromYaml.map((c) => c.name)).toEqual(['team-a', 'team-b', 'admin']);
    expect(fromYaml[0]).toEqual({ name: 'team-a', keyDigest: keyDigest(KEY_A), models: new Set(['resnet', 'chat']), rate: { requestsPerSecond: 2, burst: 2 } });
    expect(fromYaml[1].rate).toEqual({ requestsPerSecond: 0.5, burst: 3 });
    expect(fromYaml[2]).toMatchObject({ name: 'admin', models: undefined, rate: undefined });
    expect(inspect(fromYaml, { depth: 5 })).not.toContain(KEY_A);
  });

  test('burst defaults to requestsPerSecond rounded up', () => {
    const [c] = parseKeyFile(`c:\n  key: ${KEY_A}\n  models: [m]\n  requestsPerSecond: 2.5\n`, 'k.yaml');
    expect(c.rate).toEqual({ requestsPerSecond: 2.5, burst: 3 });
  });

  const entry = (fields: string) => `team-a:\n  key: ${KEY_A}\n${fields}`;
  test.each<[string, string, string]>([
    ['models missing', entry(''), 'keys.yaml: team-a.models: required: must be a list of model names or "*"'],
    ['models not a list', entry('  models: chat\n'), 'keys.yaml: team-a.models: must be a list of model names or "*"'],
    ['models empty', entry('  models: []\n'), 'keys.yaml: team-a.models: must be a list of model names or "*", and name at least one'],
    ['a model not a string', entry('  models: [chat, 7]\n'), 'keys.yaml: team-a.models[1]: must be a list of model names or "*", got 7'],
    ['a model name that is none', entry('  models: ["chat/v1"]\n'), 'keys.yaml: team-a.models[0]: must start and end with a letter or digit and hold only letters, digits, ".", "_" and "-", got "chat/v1"'],
    ['requestsPerSecond 0', entry('  models: [chat]\n  requestsPerSecond: 0\n'), 'keys.yaml: team-a.requestsPerSecond: must be a number greater than 0, got 0'],
    ['requestsPerSecond a string', entry('  models: [chat]\n  requestsPerSecond: "5"\n'), 'keys.yaml: team-a.requestsPerSecond: must be a number greater than 0, got "5"'],
    ['burst a fraction', entry('  models: [chat]\n  requestsPerSecond: 5\n  burst: 1.5\n'), 'keys.yaml: team-a.burst: must be an integer of at least 1, got 1.5'],
    ['burst 0', entry('  models: [chat]\n  requestsPerSecond: 5\n  burst: 0\n'), 'keys.yaml: team-a.burst: must be an integer of at least 1, got 0'],
    ['burst alone', entry('  models: [chat]\n  burst: 4\n'), 'keys.yaml: team-a.burst: needs requestsPerSecond (a burst alone limits nothing)'],
    ['an unknown field', entry('  models: [chat]\n  requestPerSecond: 5\n'), 'keys.yaml: team-a.requestPerSecond: unknown field (known: key, models, requestsPerSecond, burst)'],
    ['an entry not a mapping', 'team-a: yes\n', 'keys.yaml: team-a: must be a mapping with key, models and optionally requestsPerSecond and burst'],
    ['key missing', 'team-a:\n  models: [chat]\n', 'keys.yaml: team-a.key: required: the secret the client sends'],
    ['key a number', 'team-a:\n  key: 12345678901234567890\n  models: [chat]\n', 'keys.yaml: team-a.key: must be a string (quote it)'],
    ['key too short', 'team-a:\n  key: mp_short\n  models: [chat]\n', 'keys.yaml: team-a.key: must be at least 16 characters: a shorter key can be guessed'],
    ['key with a space', 'team-a:\n  key: "mp_with a_space_0123456"\n  models: [chat]\n', 'keys.yaml: team-a.key: must hold only visible ASCII characters, no spaces: it travels in an HTTP header'],
    ['a list, not a mapping', '- team-a\n', 'keys.yaml: must be a mapping from client name to {key, models, requestsPerSecond?, burst?}'],
    ['an empty file', '', 'keys.yaml: must be a mapping from client name to {key, models, requestsPerSecond?, burst?}'],
    ['no clients', '{}\n', 'keys.yaml: names no clients: name at least one (without --api-keys the gateway asks for no key)'],
  ])('refuses %s', (_case, text, problem) => {
    expect(refusal(() => parseKeyFile(text, 'keys.yaml'))).toEqual([problem]);
  });

  test('every problem of a file is named at once', () => {
    const text = `a:\n  key: ${KEY_A}\n  models: chat\nb:\n  key: ${KEY_B}\n  models: [chat]\n  burst: 0\n`;
    expect(refusal(() => parseKeyFile(text, 'keys.yaml'))).toEqual([
      'keys.yaml: a.models: must be a list of model names or "*"',
      'keys.yaml: b.burst: needs requestsPerSecond (a burst alone limits nothing)',
    ]);
  });

  test('two clients with one key are refused, naming both and never the key', () => {
    const text = `team-a:\n  key: ${KEY_A}\n  models: [chat]\nteam-b:\n  key: ${KEY_A}\n  models: [resnet]\n`;
    expect(refusal(() => parseKeyFile(text, 'keys.yaml'))).toEqual(['keys.yaml: team-b.key: the same key as client team-a: each client needs its own']);
  });

  test('YAML that does not parse is refused with its line, without the excerpt that would show a key', () => {
    const text = `team-a:\n  key: "${KEY_A}\n  models: [chat]\n`;
    const [problem] = refusal(() => parseKeyFile(text, 'keys.yaml'));
    expect(problem).toMatch(/^keys\.yaml: not valid YAML or JSON at line \d+: unexpected end of the stream within a double quoted scalar$/);
  });

  test('a short key is never in the message', () => {
    const short = 'mp_s3cr3t';
    const messages = refusal(() => parseKeyFile(`a:\n  key: ${short}\n  models: [m]\n`, 'k.yaml')).join('\n');
    expect(messages).not.toContain(short);
  });
});

/**
 * A Secret's volume as the kubelet's atomic writer leaves it: the entries in a new `..<timestamp>` directory, `..data`
 * swapped to it by renaming a fresh link over it, a link per entry through `..data`, then the links of entries that
 * are gone and the previous timestamped directory removed.
 */
function secretVolume(dir: string, entries: Record<string, string>, stamp: string): void {
  const data = `..${stamp}`;
  mkdirSync(join(dir, data));
  for (const [name, text] of Object.entries(entries)) writeFileSync(join(dir, data, name), text);
  const old = existsSync(join(dir, '..data')) ? readlinkSync(join(dir, '..data')) : undefined;
  symlinkSync(data, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(entries)) if (!existsSync(join(dir, name))) symlinkSync(join('..data', name), join(dir, name));
  if (!old) return;
  for (const name of readdirSync(join(dir, old))) if (!(name in entries)) unlinkSync(join(dir, name));
  rmSync(join(dir, old), { recursive: true });
}

/** Writes a file whole, by rename, so a poll never reads it half written. */
function writeWhole(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

const entryText = (key: string, models: string[], extra = '') => `key: ${key}\nmodels: [${models.join(', ')}]\n${extra}`;

describe('a directory (a mounted Secret)', () => {
  test('each file is a client, named for it; dot-files and the kubelet\'s ..data machinery are skipped', () => {
    const dir = freshDir();
    secretVolume(dir, { 'team-a': entryText(KEY_A, ['resnet']), admin: entryText(KEY_ADMIN, ['"*"']) }, '2026_12_07_00_00_00.1');
    writeFileSync(join(dir, '.hidden'), 'not yaml: [');
    const clients = loadApiKeys(dir);
    expect(clients.map((c) => c.name)).toEqual(['admin', 'team-a']);
    expect(clients[1]).toMatchObject({ keyDigest: keyDigest(KEY_A), models: new Set(['resnet']) });
  });

  test('problems name the entry\'s file and its client; a key shared across files names both', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'team-a'), entryText(KEY_A, ['resnet']));
    writeFileSync(join(dir, 'team-b'), entryText(KEY_A, ['chat'], 'burst: 2\n'));
    writeFileSync(join(dir, 'team-c'), 'models: [chat]\n');
    expect(refusal(() => loadApiKeys(dir))).toEqual([
      `${join(dir, 'team-b')}: team-b.burst: needs requestsPerSecond (a burst alone limits nothing)`,
      `${join(dir, 'team-c')}: team-c.key: required: the secret the client sends`,
    ]);
    writeFileSync(join(dir, 'team-b'), entryText(KEY_A, ['chat']));
    writeFileSync(join(dir, 'team-c'), entryText(KEY_B, ['chat']));
    expect(refusal(() => loadApiKeys(dir))).toEqual([`${join(dir, 'team-b')}: team-b.key: the same key as client team-a (${join(dir, 'team-a')}): each client needs its own`]);
  });

  test('an empty directory and a missing path are refused', () => {
    const dir = freshDir();
    expect(refusal(() => loadApiKeys(dir))).toEqual(['API keys: names no clients: name at least one (without --api-keys the gateway asks for no key)']);
    expect(refusal(() => loadApiKeys(join(dir, 'absent.yaml')))).toEqual([`${join(dir, 'absent.yaml')}: cannot be read: ENOENT`]);
  });
});

describe('the key a request sends', () => {
  test.each<[string, Record<string, string | string[]>, string | undefined]>([
    ['Bearer', { authorization: `Bearer ${KEY_A}` }, KEY_A],
    ['bearer in lower case', { authorization: `bearer ${KEY_A}` }, KEY_A],
    ['BEARER in upper case', { authorization: `BEARER ${KEY_A}` }, KEY_A],
    ['x-api-key', { 'x-api-key': KEY_A }, KEY_A],
    ['x-api-key given twice: the first', { 'x-api-key': [KEY_A, KEY_B] }, KEY_A],
    ['Bearer before x-api-key', { authorization: `Bearer ${KEY_A}`, 'x-api-key': KEY_B }, KEY_A],
    ['Basic: no key, x-api-key then', { authorization: 'Basic dXNlcjpwYXNz', 'x-api-key': KEY_B }, KEY_B],
    ['Basic alone: no key', { authorization: 'Basic dXNlcjpwYXNz' }, undefined],
    ['an empty Bearer', { authorization: 'Bearer ' }, undefined],
    ['Bearer with no space', { authorization: `Bearer${KEY_A}` }, undefined],
    ['nothing', {}, undefined],
  ])('%s', (_case, headers, key) => expect(apiKeyFromHeaders(headers)).toBe(key));
});

describe('authorize', () => {
  const store = () => new KeyStore(parseKeyFile(KEY_FILE, 'keys.yaml'), 0);

  test('a known key calling an allowed model is granted, naming its client; "*" allows every model', () => {
    const keys = store();
    expect(keys.authorize(bearer(KEY_A), 'resnet', 0)).toEqual({ ok: true, client: 'team-a' });
    expect(keys.authorize({ 'x-api-key': KEY_B }, 'chat', 0)).toEqual({ ok: true, client: 'team-b' });
    expect(keys.authorize(bearer(KEY_ADMIN), 'anything-at-all', 0)).toEqual({ ok: true, client: 'admin' });
  });

  test('no key: 401 MissingApiKey; an unknown key: 401 InvalidApiKey; both ask for a Bearer token', () => {
    const keys = store();
    expect(denied(keys.authorize({}, 'chat', 0))).toMatchObject({ status: 401, reason: 'MissingApiKey', headers: { 'WWW-Authenticate': 'Bearer' } });
    const invalid = denied(keys.authorize(bearer(`${KEY_A}x`), 'chat', 0));
    expect(invalid).toMatchObject({ status: 401, reason: 'InvalidApiKey', headers: { 'WWW-Authenticate': 'Bearer' } });
    expect(invalid.client).toBeUndefined();
  });

  test('a model the client may not call: 403 ModelNotAllowed naming the client and the model', () => {
    const d = denied(store().authorize(bearer(KEY_B), 'resnet', 0));
    expect(d).toMatchObject({ status: 403, reason: 'ModelNotAllowed', client: 'team-b' });
    expect(d.message).toBe('client team-b may not call model "resnet": its models in the API keys do not name it');
  });

  test('over its rate: 429 RateLimited with Retry-After until the next token; the bucket refills at the rate up to the burst', () => {
    const keys = store();
    // team-a: 2 per second, burst 2.
    expect(keys.authorize(bearer(KEY_A), 'chat', 1000).ok).toBe(true);
    expect(keys.authorize(bearer(KEY_A), 'chat', 1000).ok).toBe(true);
    const limited = denied(keys.authorize(bearer(KEY_A), 'chat', 1000));
    expect(limited).toMatchObject({ status: 429, reason: 'RateLimited', client: 'team-a', retryAfterSeconds: 1, headers: { 'Retry-After': '1' } });
    expect(limited.message).toBe('client team-a is over its rate limit of 2 requests per second (burst 2): retry after 1 s');
    expect(keys.authorize(bearer(KEY_A), 'chat', 1400).ok).toBe(false);
    expect(keys.authorize(bearer(KEY_A), 'chat', 1600).ok).toBe(true);
    expect(keys.authorize(bearer(KEY_A), 'chat', 1600).ok).toBe(false);
    // A long pause refills to the burst, no more.
    expect(keys.authorize(bearer(KEY_A), 'chat', 60_000).ok).toBe(true);
    expect(keys.authorize(bearer(KEY_A), 'chat', 60_000).ok).toBe(true);
    expect(keys.authorize(bearer(KEY_A), 'chat', 60_000).ok).toBe(false);
    // Another client's bucket is its own; a client without a rate has none.
    expect(keys.authorize(bearer(KEY_B), 'chat', 60_000).ok).toBe(true);
    for (let i = 0; i < 100; i++) expect(keys.authorize(bearer(KEY_ADMIN), 'chat', 60_000).ok).toBe(true);
  });

  test('Retry-After is whole seconds, rounded up, until one token is there', () => {
    const keys = store();
    // team-b: 0.5 per second, burst 3: a token every 2 s.
    for (let i = 0; i < 3; i++) expect(keys.authorize(bearer(KEY_B), 'chat', 0).ok).toBe(true);
    expect(denied(keys.authorize(bearer(KEY_B), 'chat', 0)).retryAfterSeconds).toBe(2);
    expect(denied(keys.authorize(bearer(KEY_B), 'chat', 500)).retryAfterSeconds).toBe(2);
    expect(denied(keys.authorize(bearer(KEY_B), 'chat', 1100)).headers).toEqual({ 'Retry-After': '1' });
    expect(keys.authorize(bearer(KEY_B), 'chat', 2000).ok).toBe(true);
  });

  test('a refused request (401, 403) takes no token', () => {
    const keys = store();
    for (let i = 0; i < 5; i++) denied(keys.authorize(bearer(KEY_A), 'not-allowed', 0));
    expect(keys.authorize(bearer(KEY_A), 'chat', 0).ok).toBe(true);
    expect(keys.authorize(bearer(KEY_A), 'chat', 0).ok).toBe(true);
  });

  test('a client that stays across replace() keeps its bucket, under its new rate; a new client starts full', () => {
    const keys = store();
    expect(keys.version).toBe(1);
    keys.authorize(bearer(KEY_A), 'chat', 0);
    keys.authorize(bearer(KEY_A), 'chat', 0);
    keys.replace(parseKeyFile(`team-a:\n  key: ${KEY_NEW}\n  models: [chat]\n  requestsPerSecond: 1\nteam-c:\n  key: ${KEY_B}\n  models: [chat]\n  requestsPerSecond: 1\n`, 'k.yaml'), 0);
    expect(keys.version).toBe(2);
    expect(keys.size).toBe(2);
    expect(denied(keys.authorize(bearer(KEY_A), 'chat', 0)).reason).toBe('InvalidApiKey');
    expect(denied(keys.authorize(bearer(KEY_NEW), 'chat', 0))).toMatchObject({ reason: 'RateLimited', retryAfterSeconds: 1 });
    expect(keys.authorize(bearer(KEY_B), 'chat', 0)).toEqual({ ok: true, client: 'team-c' });
    expect(keys.authorize(bearer(KEY_NEW), 'chat', 1000).ok).toBe(true);
  });

  test('the store holds no plaintext key', () => {
    expect(inspect(store(), { depth: 8 })).not.toMatch(new RegExp(ALL_KEYS.join('|')));
  });
});

describe('a watched store', () => {
  let keys: KeyStore | undefined;
  afterEach(() => keys?.close());

  test('follows the kubelet\'s ..data swap: a rotated key, a new client, a removed one; buckets stay', async () => {
    const dir = freshDir();
    const { log, entries } = memoryLogger('gateway');
    secretVolume(dir, { 'team-a': entryText(KEY_A, ['chat'], 'requestsPerSecond: 0.001\n'), 'team-b': entryText(KEY_B, ['chat']) }, '2026_12_07_00_00_00.1');
    keys = KeyStore.watch(dir, { log, pollMs: 200 });
    const reloaded: number[] = [];
    keys.onReload((s) => reloaded.push(s.version));
    expect(keys.authorize(bearer(KEY_A), 'chat').ok).toBe(true);
    expect(keys.authorize(bearer(KEY_B), 'chat').ok).toBe(true);

    secretVolume(dir, { 'team-a': entryText(KEY_NEW, ['chat'], 'requestsPerSecond: 0.002\n'), admin: entryText(KEY_ADMIN, ['"*"']) }, '2026_12_07_00_05_00.2');
    await waitFor('the swapped keys', () => keys!.authorize(bearer(KEY_ADMIN), 'chat').ok && keys!.size === 2);
    expect(keys.version).toBe(reloaded.at(-1));
    expect(denied(keys.authorize(bearer(KEY_A), 'chat')).reason).toBe('InvalidApiKey');
    expect(denied(keys.authorize(bearer(KEY_B), 'chat')).reason).toBe('InvalidApiKey');
    // team-a's bucket was spent before the swap and stays spent: a token every 500 s at its new rate.
    expect(denied(keys.authorize(bearer(KEY_NEW), 'chat')).reason).toBe('RateLimited');
    expect(keys.lastError).toBeUndefined();
    expect(entries.map((e) => e.message)).toContain('API keys reloaded');
    seen.push(...entries.map((e) => JSON.stringify(e)));
  });

  test('invalid new keys leave the previous ones in use, and each distinct error is logged once', () => {
    const dir = freshDir();
    const { log, entries } = memoryLogger('gateway');
    const file = join(dir, 'keys.yaml');
    writeWhole(file, KEY_FILE);
    keys = KeyStore.watch(file, { log });
    expect(keys.version).toBe(1);
    const errorLines = () => entries.filter((e) => e.level === 'error').map((e) => e.message);

    writeWhole(file, `team-a:\n  key: ${KEY_NEW}\n  models: [chat]\nteam-b:\n  key: mp_short_key\n  models: [chat]\n`);
    keys.reload();
    expect(keys.version).toBe(1);
    expect(keys.lastError).toBe(`${file}: team-b.key: must be at least 16 characters: a shorter key can be guessed`);
    expect(keys.authorize(bearer(KEY_A), 'chat', 0)).toEqual({ ok: true, client: 'team-a' });
    expect(denied(keys.authorize(bearer(KEY_NEW), 'chat', 0)).reason).toBe('InvalidApiKey');
    expect(errorLines()).toEqual([`API keys not reloaded, the previous 3 clients stay in use: ${keys.lastError}`]);

    // A file that is gone is tried again at every reload, and each failure counts, but says so once.
    rmSync(file);
    const failures = keys.reloadFailures;
    for (let i = 0; i < 3; i++) expect(keys.reload()).toBe('failed');
    expect(keys.reloadFailures).toBe(failures + 3);
    expect(errorLines().filter((m) => m.includes('ENOENT'))).toHaveLength(1);

    writeWhole(file, 'team-a: [');
    keys.reload();
    expect(keys.lastError).toMatch(/: not valid YAML or JSON at line \d+: unexpected end of the stream within a flow collection$/);
    expect(errorLines()).toHaveLength(3);

    // Valid keys are taken, and the error is forgotten.
    writeWhole(file, `team-a:\n  key: ${KEY_NEW}\n  models: [chat]\n`);
    keys.reload();
    expect(keys.version).toBe(2);
    expect(keys.lastError).toBeUndefined();
    expect(keys.authorize(bearer(KEY_NEW), 'chat', 0)).toEqual({ ok: true, client: 'team-a' });
    expect(denied(keys.authorize(bearer(KEY_A), 'chat', 0)).reason).toBe('InvalidApiKey');
    seen.push(...entries.map((e) => JSON.stringify(e)));
  });

  test('a key file is followed through its directory: a save by rename is seen', async () => {
    const dir = freshDir();
    const { log, entries } = memoryLogger('gateway');
    const file = join(dir, 'keys.yaml');
    writeWhole(file, KEY_FILE);
    keys = KeyStore.watch(file, { log });
    writeWhole(file, `team-a:\n  key: ${KEY_NEW}\n  models: [chat]\n`);
    await waitFor('the new key', () => keys!.authorize(bearer(KEY_NEW), 'chat').ok);
    expect(keys.size).toBe(1);
    seen.push(...entries.map((e) => JSON.stringify(e)));
  });

  test('an invalid PATH at start is refused; after close() the keys stay and reload() still reads PATH', () => {
    const dir = freshDir();
    const { log, entries } = memoryLogger('gateway');
    const file = join(dir, 'keys.yaml');
    writeFileSync(file, `a:\n  key: ${KEY_A}\n  models: chat\n`);
    expect(refusal(() => KeyStore.watch(file, { log }))).toEqual([`${file}: a.models: must be a list of model names or "*"`]);
    writeFileSync(file, KEY_FILE);
    keys = KeyStore.watch(file, { log });
    keys.close();
    expect(keys.authorize(bearer(KEY_A), 'chat', 0).ok).toBe(true);
    writeWhole(file, `a:\n  key: ${KEY_NEW}\n  models: [chat]\n`);
    expect(keys.reload()).toBe('reloaded');
    expect(keys.authorize(bearer(KEY_NEW), 'chat', 0)).toEqual({ ok: true, client: 'a' });
    seen.push(...entries.map((e) => JSON.stringify(e)));
  });
});
