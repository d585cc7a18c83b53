import { isModelUri, isRemoteUri, parseModelUri, redactUri } from '../../fetch/uri.js';
import { fileNameForUrl, safeRelativePath } from '../../fetch/index.js';
import { FetchError } from '../../fetch/errors.js';

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof FetchError ? err.reason : 'not a FetchError';
  }
}

describe('parseModelUri', () => {
  test.each([
    ['https://host/models/a.onnx', { kind: 'http' }],
    ['HTTP://host:8080/a.onnx?x=1', { kind: 'http' }],
    ['s3://models/resnet/model.onnx', { kind: 's3', bucket: 'models', key: 'resnet/model.onnx' }],
    ['s3://models/resnet/', { kind: 's3', bucket: 'models', key: 'resnet/' }],
    ['s3://models', { kind: 's3', bucket: 'models', key: '' }],
    ['pvc://model-store/resnet/model.onnx', { kind: 'pvc', claim: 'model-store', path: 'resnet/model.onnx' }],
    ['pvc://model-store', { kind: 'pvc', claim: 'model-store', path: '' }],
    ['file:///models/a.onnx', { kind: 'file', path: '/models/a.onnx' }],
  ])('%s', (uri, expected) => {
    expect(parseModelUri(uri)).toMatchObject(expected);
  });

  test.each([
    ['', 'InvalidUri'],
    ['models/a.onnx', 'InvalidUri'],
    ['ftp://host/a.onnx', 'InvalidUri'],
    ['https://', 'InvalidUri'],
    ['https://host/a b.onnx', 'InvalidUri'],
    ['s3://Bad_Bucket!/a', 'InvalidUri'],
    ['s3://ab/a', 'InvalidUri'],
    ['s3://models//abs', 'PathEscape'],
    ['s3://models/a/../b', 'PathEscape'],
    ['pvc://Not_A_Claim/a', 'InvalidUri'],
    ['pvc://claim/../other/a', 'PathEscape'],
    ['pvc://claim//abs', 'PathEscape'],
    ['file://host/a.onnx', 'InvalidUri'],
    ['file:///a/./b', 'PathEscape'],
  ])('%s is refused with %s', (uri, reason) => {
    expect(reasonOf(() => parseModelUri(uri))).toBe(reason);
  });

  test('messages name the reason', () => {
    expect(() => parseModelUri('ftp://h/a')).toThrow(/unsupported scheme 'ftp:\/\/'/);
  });
});

describe('isRemoteUri / isModelUri', () => {
  test.each([
    ['https://h/a.onnx', true, true],
    ['http://h/a.onnx', true, true],
    ['s3://b/k', true, true],
    ['pvc://c/p', false, true],
    ['file:///a.onnx', false, true],
    ['/models/a.onnx', false, false],
    ['models/a.onnx', false, false],
    ['ftp://h/a', false, false],
  ])('%s', (uri, remote, model) => {
    expect(isRemoteUri(uri)).toBe(remote);
    expect(isModelUri(uri)).toBe(model);
  });
});

describe('redactUri', () => {
  test.each([
    ['https://user:pass@host/a.onnx', 'https://host/a.onnx'],
    [
      'https://bucket.s3.amazonaws.com/a.onnx?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F&X-Amz-Signature=abcdef&X-Amz-Expires=60',
      'https://bucket.s3.amazonaws.com/a.onnx?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Expires=60',
    ],
    ['https://acct.blob.core.windows.net/c/a.onnx?sv=2020&sig=xyz&se=2030', 'https://acct.blob.core.windows.net/c/a.onnx?sv=REDACTED&sig=REDACTED&se=REDACTED'],
    ['https://host/a.onnx?token=t&version=3', 'https://host/a.onnx?token=REDACTED&version=3'],
    ['s3://bucket/key', 's3://bucket/key'],
    ['weird://u:p@h/x?secret', 'weird://h/x?REDACTED'],
  ])('%s', (uri, expected) => {
    expect(redactUri(uri)).toBe(expected);
  });
});

describe('destination names', () => {
  test.each([
    ['https://h/models/resnet.onnx', 'resnet.onnx'],
    ['https://h/models/my%20model.onnx', 'my model.onnx'],
    ['https://h/models/', 'model.onnx'],
    ['https://h/download?id=3', 'download'],
  ])('%s is stored as %s', (url, name) => {
    expect(fileNameForUrl(new URL(url))).toBe(name);
  });

  test.each(['a/../b', '../a', '/abs', 'a//b', './a', 'a\\b', 'C:/x', '.modelplane-fetch.json', ''])('object name %j is refused', (name) => {
    expect(reasonOf(() => safeRelativePath(name))).toBe('PathEscape');
  });

  test.each(['model.onnx', 'sub/dir/weights.bin', '.hidden', 'a..b'])('object name %j is kept', (name) => {
    expect(safeRelativePath(name)).toBe(name);
  });
});
