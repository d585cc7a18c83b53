// How instances are laid out: providers under --require-gpu, devices, and threads shared out of the CPU limit.
import { parseServeConfig } from '../../runtime/config.js';
import { instancePlan } from '../../runtime/serve.js';

const plan = (flags: Record<string, string | boolean>, cpus: number) => instancePlan(parseServeConfig({ model: 'm.onnx', ...flags }), cpus);

test.each([
  ['one CPU instance takes the whole CPU limit', {}, 8, [{ executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 8 }]],
  ['two CPU instances share it', { instances: '2' }, 8, [{ executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 4 }, { executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 4 }]],
  ['more instances than CPUs get one thread each', { instances: '3' }, 2, Array(3).fill({ executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 1 })],
  ['explicit threads win', { instances: '2', intraOpThreads: '3' }, 8, Array(2).fill({ executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 3 })],
  ['--require-gpu drops the CPU fallback; one instance per device', { executionProviders: 'cuda,cpu', requireGpu: true, instances: '2', devices: '0,1' }, 4, [
    { executionProviders: ['cuda'], deviceId: 0, intraOpThreads: 2 }, { executionProviders: ['cuda'], deviceId: 1, intraOpThreads: 2 },
  ]],
  ['instances cycle through the devices', { executionProviders: 'cuda', instances: '4', devices: '2,3' }, 4, [
    { executionProviders: ['cuda'], deviceId: 2, intraOpThreads: 1 }, { executionProviders: ['cuda'], deviceId: 3, intraOpThreads: 1 },
    { executionProviders: ['cuda'], deviceId: 2, intraOpThreads: 1 }, { executionProviders: ['cuda'], deviceId: 3, intraOpThreads: 1 },
  ]],
])('%s', (_name, flags, cpus, expected) => {
  expect(plan(flags, cpus).map(({ executionProviders, deviceId, intraOpThreads }) => ({ executionProviders, deviceId, intraOpThreads }))).toEqual(expected);
});
