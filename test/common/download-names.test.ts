// One rule for where a download lands, read by fetch (which stores it) and the operator (which points serve at it).
import { describe, expect, it } from '@jest/globals';
import { downloadLanding } from '../../common/download-names.js';
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
  ])('%s', (uri, landing, path) => {
    expect(downloadLanding(uri)).toEqual(landing);
    expect(downloadedModelPath(uri)).toBe(path);
    if (uri.startsWith('http')) expect(fileNameForUrl(new URL(uri))).toBe((landing as { file: string }).file);
  });

  it('refuses a URL segment that is not percent-encoding; the operator keeps it as written and fetch says why', () => {
    expect(() => downloadLanding('https://h/m%zz.onnx')).toThrow(/not valid percent-encoding/);
    expect(downloadedModelPath('https://h/m%zz.onnx')).toBe('/models/m%zz.onnx');
    expect(() => fileNameForUrl(new URL('https://h/m%zz.onnx'))).toThrow(/not valid percent-encoding/);
  });
});
