// `npm run docs:reference`: rewrites the spec reference block in README.md from the schema.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withSpecReference } from './reference.js';

const readme = fileURLToPath(new URL('../../../README.md', import.meta.url));
writeFileSync(readme, withSpecReference(readFileSync(readme, 'utf8')));
