// `npm run docs:reference`: rewrites the generated blocks of the manual: the ModelDeployment spec reference in
// docs/operator.md, from the schema, and the chart's values in docs/helm-values.md, from values.yaml and
// values.schema.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withChartValues } from './chart-values-reference.js';
import { withSpecReference } from './reference.js';

const repo = (p: string) => fileURLToPath(new URL(`../../../${p}`, import.meta.url));
const rewrite = (page: string, update: (text: string) => string) => writeFileSync(repo(page), update(readFileSync(repo(page), 'utf8')));

rewrite('docs/operator.md', withSpecReference);
const values = readFileSync(repo('charts/modelplane/values.yaml'), 'utf8');
const schema = JSON.parse(readFileSync(repo('charts/modelplane/values.schema.json'), 'utf8'));
rewrite('docs/helm-values.md', (text) => withChartValues(text, values, schema));
