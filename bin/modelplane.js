#!/usr/bin/env -S node --max-semi-space-size=2
// A small young generation keeps a busy runtime's memory flat (README, Benchmarks); V8 reads it only at start.
// The old generation keeps V8's own growth step in serve: a smaller one forced a full GC every few scavenges.
import '../dist/cli/main.js';
