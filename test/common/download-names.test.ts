// One rule for where a download lands, read by fetch (which stores it) and the operator (which points serve at it).
import { describe, expect, it } from '@jest/globals';
import { archiveOfUri, downloadLanding } from '../../common/download-names.js';
import { fileNameForUrl } from '../../fetch/index.js';
import { downloadedModelPath } from '../../operator/resources/model-source.js';

describe('downloadLanding', () => {
  it.each<[string, ReturnType<typeof downloadLanding>, string]>([
    ['https://h/models/resnet.onnx', { file: 'resnet.onnx' }, '/models/resnet.onnx'],
    ['https://h/models/res%20net.onnx?sig=1', { file: 'res net.onnx' }, '/models/res net.onnx'],
    ['https://h/models/', { file: 'model.onnx' }, '/models/model.onnx'],
    ['https://h/download', { file: 'download' }, '/models/download'],
    ['s3://b/models/resnet.onnx', { file: 'resnet.onnx' }, '/models/resnet.onnx'],
    // S3 keys are literal: a % in a key is a %.
    ['s3://b/models/res%20net.onnx', { file: 'res%20net.onnx' }, '/models/res%20net.onnx'],
    ['s3://b/models/resnet/', { folder: true }, '/models'],
    ['s3://b/models/resnet', { folder: true }, '/models'],
    ['s3://b', { folder: true }, '/models'],
    // Archives unpack into a folder named for them, whatever the scheme; an odd name unpacks into 'model'.
    ['https://h/llm/gpt2.tar.gz?sig=1', { archive: 'tar.gz', dir: 'gpt2' }, '/models/gpt2'],
    ['https://h/llm/Qwen2.5-0.5B.TGZ', { archive: 'tar.gz', dir: 'Qwen2.5-0.5B' }, '/models/Qwen2.5-0.5B'],
    ['s3://b/llm/gpt2.zip', { archive: 'zip', dir: 'gpt2' }, '/models/gpt2'],
    ['s3://b/llm/gpt2.tar', { archive: 'tar', dir: 'gpt2' }, '/models/gpt2'],
    ['https://h/llm/.tar.gz', { archive: 'tar.gz', dir: 'model' }, '/models/model'],
    ['https://h/llm/my%20model.zip', { archive: 'zip', dir: 'model' }, '/models/model'],
  ])('%s', (uri, landing, path) => {
    expect(downloadLanding(uri)).toEqual(landing);
    expect(downloadedModelPath(uri)).toBe(path);
    if (uri.startsWith('http') && 'file' in landing) expect(fileNameForUrl(new URL(uri))).toBe(landing.file);
  });

  it('refuses a URL segment that is not percent-encoding; the operator keeps it as written and fetch says why', () => {
    expect(() => downloadLanding('https://h/m%zz.onnx')).toThrow(/not valid percent-encoding/);
    expect(downloadedModelPath('https://h/m%zz.onnx')).toBe('/models/m%zz.onnx');
    expect(() => fileNameForUrl(new URL('https://h/m%zz.onnx'))).toThrow(/not valid percent-encoding/);
  });

  it('names an archive on a claim or on disk, which the init container unpacks too', () => {
    expect(archiveOfUri('pvc://store/llm/gpt2.tar.gz')).toEqual({ archive: 'tar.gz', dir: 'gpt2' });
    expect(archiveOfUri('file:///srv/models/gpt%202.zip')).toEqual({ archive: 'zip', dir: 'model' });
    expect(archiveOfUri('file:///srv/models/gpt2')).toBeUndefined();
    expect(archiveOfUri('s3://b/llm/gpt2.tar.gz/')).toBeUndefined();
    expect(archiveOfUri('https://h/m%zz.zip')).toBeUndefined();
  });
});
