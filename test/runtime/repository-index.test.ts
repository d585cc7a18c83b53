// Triton's repository index for the one model a server serves, in each state of the server.
import { repositoryIndex, type ServedModel, type ServerState } from '../../runtime/core.js';

const served = {} as ServedModel;
const deps = (state: ServerState, loaded = state !== 'loading') => ({ modelName: 'resnet', state: () => state, model: () => (loaded ? served : undefined) });

test.each([
  ['loading', 'LOADING', 'the model is loading'],
  ['ready', 'READY', ''],
  ['draining', 'UNAVAILABLE', 'the server is shutting down'],
  ['closed', 'UNAVAILABLE', 'the server is shutting down'],
] as [ServerState, string, string][])('%s: %s', (state, listed, reason) => {
  expect(repositoryIndex(deps(state), {})).toEqual([{ name: 'resnet', version: '1', state: listed, reason }]);
  expect(repositoryIndex(deps(state), { readyOnly: true })).toEqual(listed === 'READY' ? [{ name: 'resnet', version: '1', state: listed, reason }] : []);
});

test('a named repository is refused with its reason; an empty name is the one repository', () => {
  expect(() => repositoryIndex(deps('ready'), { repositoryName: 'models' })).toThrow(expect.objectContaining({ reason: 'RepositoryNotSupported', status: 501 }));
  expect(repositoryIndex(deps('ready'), { repositoryName: '' })).toHaveLength(1);
});
