// One rule for a model's name: the CRD (spec.model.servedName), `serve --name` and the operator's validation agree.
import { describe, expect, it } from '@jest/globals';
import { modelNameProblem } from '../../common/model-name.js';
import { parseServeConfig } from '../../runtime/config.js';
import { validateModelDeployment } from '../../operator/api/validate.js';

const md = (servedName: string) => ({ apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'm' }, spec: { model: { uri: 'https://h/m.onnx', servedName } } });

describe('a model name', () => {
  it.each([
    ['resnet', true], ['ResNet-50_v1.5', true], ['a', true], ['x'.repeat(128), true],
    ['-resnet', false], ['resnet-', false], ['res/net', false], ['res net', false], ['', false], ['x'.repeat(129), false],
  ])('%s is a model name: %s, everywhere', (name, ok) => {
    expect(modelNameProblem(name) === undefined).toBe(ok);
    expect(validateModelDeployment(md(name)).ok).toBe(ok);
    const serve = () => parseServeConfig({ model: '/m.onnx', name });
    if (ok) expect(serve).not.toThrow();
    else expect(serve).toThrow(/^--name: /);
  });
});
