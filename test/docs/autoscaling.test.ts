// The manual's autoscaling promises that can be checked without a cluster: the prometheus-adapter rule names the
// series the runtime exports and the metric the HPA asks for; the benchmark script exists.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { operatorCommand } from '../../cli/operator.js';
import { CONCURRENCY_METRIC, SEQUENCES_METRIC } from '../../operator/resources/hpa.js';
import { CONCURRENCY_SERIES, GATEWAY_HELD_SERIES, GATEWAY_IN_FLIGHT_SERIES, RUNNING_SEQUENCES_SERIES, WAITING_SEQUENCES_SERIES } from '../../operator/autoscaler/signal.js';
import { validateModelDeployment } from '../../operator/api/validate.js';
import { sequencesQuery } from '../../operator/resources/scaledobject.js';
import { md } from '../operator/resources/fixtures.js';
import { REPO } from '../support/runtime-process.js';

const doc = (page: string) => readFileSync(join(REPO, 'docs', page), 'utf8');
const autoscaling = doc('autoscaling.md');

test('the prometheus-adapter rule turns the runtime counter into the Pods metric the HPA asks for', () => {
  const section = autoscaling.slice(autoscaling.indexOf('**mode hpa with the concurrency metric**'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)![1];
  const { rules } = yaml.load(block) as { rules: Array<{ seriesQuery: string; name: { matches: string; as: string }; metricsQuery: string; resources: { overrides: Record<string, { resource: string }> } }> };
  expect(rules).toHaveLength(1);
  const [rule] = rules;
  expect(rule.seriesQuery.startsWith(`${CONCURRENCY_SERIES}{`)).toBe(true);
  expect(new RegExp(rule.name.matches).test(CONCURRENCY_SERIES)).toBe(true);
  expect(rule.name.as).toBe(CONCURRENCY_METRIC);
  expect(rule.metricsQuery).toMatch(/rate\(<<\.Series>>\{<<\.LabelMatchers>>\}\[1m\]\)/);
  expect(rule.resources.overrides).toEqual({ namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
});

test('the sequences rule turns the running and waiting gauges into the Pods metric the HPA asks for', () => {
  const section = autoscaling.slice(autoscaling.indexOf('**mode hpa with the sequences metric**'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)![1];
  const { rules: [rule] } = yaml.load(block) as { rules: Array<{ seriesQuery: string; name: { matches: string; as: string }; metricsQuery: string }> };
  expect(rule.seriesQuery.startsWith(`${RUNNING_SEQUENCES_SERIES}{`)).toBe(true);
  expect(new RegExp(rule.name.matches).test(RUNNING_SEQUENCES_SERIES)).toBe(true);
  expect(rule.name.as).toBe(SEQUENCES_METRIC);
  expect(rule.metricsQuery).toBe(`sum(${RUNNING_SEQUENCES_SERIES}{<<.LabelMatchers>>} + ${WAITING_SEQUENCES_SERIES}{<<.LabelMatchers>>}) by (<<.GroupBy>>)`);
  // The KEDA query the page quotes is the one the ScaledObject carries, its pod matchers elided.
  expect(sequencesQuery(md({ model: { uri: 's3://m/m.onnx' } })).replace(/\{[^}]*\}/g, '{...}')).toBe(`sum(${RUNNING_SEQUENCES_SERIES}{...}) + sum(${WAITING_SEQUENCES_SERIES}{...})`);
  expect(autoscaling).toContain(`\`sum(${RUNNING_SEQUENCES_SERIES}{...}) + sum(${WAITING_SEQUENCES_SERIES}{...})\``);
});

test('npm run bench:autoscale exists and the benchmarks page shows its figures', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  expect(pkg.scripts['bench:autoscale']).toBe('tsc -p tsconfig.json && node dist/bench/autoscale.js');
  expect(doc('benchmarks.md')).toContain('`npm run bench:autoscale`');
});

test('the operator page names the flags of the autoscaler that `modelplane operator` takes', () => {
  const flags = operatorCommand('0.0.0').options.map((o) => o.long);
  for (const flag of ['--autoscale-interval', '--autoscale-stable-window', '--autoscale-panic-window', '--prometheus-address', '--gateway-selector', '--gateway-namespace']) {
    expect(flags).toContain(flag);
    expect(doc('operator.md')).toContain(`\`${flag}\``);
  }
});

test('the scale-to-zero section names the gateway series the autoscaler reads, and the refusals it quotes are the API\'s', () => {
  for (const series of [GATEWAY_IN_FLIGHT_SERIES, GATEWAY_HELD_SERIES]) expect(autoscaling).toContain(`\`${series}\``);
  for (const mode of ['hpa', 'keda']) {
    const r = validateModelDeployment({ apiVersion: 'serving.modelplane.io/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'm' }, spec: { model: { uri: 's3://models/m.onnx' }, autoscaling: { mode, minReplicas: 0, maxReplicas: 2 } } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    // The page gives each mode's reason in its own words after the same "needs mode builtin" verdict.
    const why = r.errors.find((e) => e.field === 'spec.autoscaling.minReplicas')!.message.replace(/^minReplicas 0 needs mode builtin: /, '').split(/, so | behind /)[0];
    expect(autoscaling.replace(/\s+/g, ' ')).toContain(why.replace(/^a /, ''));
  }
});
