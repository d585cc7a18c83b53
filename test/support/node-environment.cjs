// onnxruntime-node builds typed arrays in the host realm; jest runs tests in a vm context whose
// constructors differ, so `instanceof Float32Array` fails inside ort. Share the host's constructors.
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'Float32Array', 'Float64Array', 'Int8Array', 'Int16Array', 'Int32Array', 'BigInt64Array',
  'Uint8Array', 'Uint8ClampedArray', 'Uint16Array', 'Uint32Array', 'BigUint64Array', 'ArrayBuffer',
];

class ModelplaneEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = ModelplaneEnvironment;
