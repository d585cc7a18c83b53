// The name a model is served under when --name is not given: the file's name, or its directory's for the model file a
// directory (or a fetch destination) holds, at its top or under onnx/ (transformers.js).
import { MODEL_FILE } from '../../common/download-names.js';
import { defaultModelName } from '../../runtime/serve.js';

test.each([
  ['/models/resnet50.onnx', 'resnet50'],
  [`/models/qwen/${MODEL_FILE}`, 'qwen'],
  ['/models/qwen/', 'qwen'],
  [`/hub/tiny-gpt/onnx/${MODEL_FILE}`, 'tiny-gpt'],
  [MODEL_FILE, 'model'],
  ['/models/my model+v2.onnx', 'my-model-v2'],
  ['s3://bucket/prefix/tiny', 'tiny'],
])('%s is served as %s', (path, name) => {
  expect(defaultModelName(path)).toBe(name);
});
