#!/usr/bin/env -S node --max-semi-space-size=2
// A small young generation keeps a busy runtime's memory flat (see cli/serve.ts); V8 reads it only at start.
import '../dist/cli/main.js';
