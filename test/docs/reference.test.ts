// Generated references in docs/ (`npm run docs:reference`): each is the one its sources generate today.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartValuesMarkdown, chartValuesRows, valuesComments } from '../../operator/api/chart-values-reference.js';
import { specReferenceMarkdown } from '../../operator/api/reference.js';
import { REPO } from '../support/runtime-process.js';

const page = (name: string) => readFileSync(join(REPO, 'docs', name), 'utf8');
const valuesYaml = readFileSync(join(REPO, 'charts/modelplane/values.yaml'), 'utf8');
const valuesSchema = JSON.parse(readFileSync(join(REPO, 'charts/modelplane/values.schema.json'), 'utf8'));

test('the spec reference in docs/operator.md is the one the schema generates (npm run docs:reference)', () => {
  expect(page('operator.md')).toContain(specReferenceMarkdown());
});

test('the chart values in docs/helm-values.md are the ones values.yaml and values.schema.json generate (npm run docs:reference)', () => {
  expect(page('helm-values.md')).toContain(chartValuesMarkdown(valuesYaml, valuesSchema));
});

describe('the chart values reference', () => {
  const schema = {
    type: 'object',
    definitions: { duration: { type: 'string', pattern: '^[0-9]+s$' } },
    properties: {
      a: { type: 'object', properties: { b: { type: 'integer', minimum: 1 }, c: { $ref: '#/definitions/duration' } } },
      r: { type: 'object', properties: { requests: { type: 'object' } } },
      e: { enum: ['auto', true, false] },
    },
  };
  const values = [
    '# Top of the file: not about any key.',
    '',
    '# A section.',
    'a:',
    '  # -- How many.',
    '  b: 2',
    '  c: 5s',
    '# -- Shown whole: no key below it has a comment.',
    'r:',
    '  requests: { cpu: "1" }',
    'e: auto',
    '',
  ].join('\n');

  test('takes the comment lines right above each key, helm-docs prefix dropped', () => {
    expect([...valuesComments(values)]).toEqual([['a', 'A section.'], ['a.b', 'How many.'], ['r', 'Shown whole: no key below it has a comment.']]);
  });

  test('expands mappings the schema names, types and bounds from the schema, defaults from values.yaml', () => {
    expect(chartValuesRows(values, schema)).toEqual([
      ['`a`', 'object', '', 'A section.'],
      ['`a.b`', 'integer (1..)', '`2`', 'How many.'],
      ['`a.c`', 'duration (`30s`, `1m30s`)', '`"5s"`', ''],
      ['`r`', 'object', '`{"requests":{"cpu":"1"}}`', 'Shown whole: no key below it has a comment.'],
      ['`e`', '`auto` \\| `true` \\| `false`', '`"auto"`', ''],
    ]);
  });

  test('refuses a value the schema does not describe', () => {
    expect(() => chartValuesRows(`${values}x: 1\n`, schema)).toThrow('values.yaml has x, which values.schema.json does not describe');
  });
});
