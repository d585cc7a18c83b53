import { escapeXml, lineChart, niceTicks } from '../../perf/svg-chart.js';
import { progressLine, cpuShare, clientCpuWarning, summaryTable } from '../../perf/progress.js';

test.each([
  [0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1]],
  [0, 47, [0, 10, 20, 30, 40, 50]],
  [0, 3013, [0, 1000, 2000, 3000, 4000]],
  [5, 5, [4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6]],
  [0, 0, [-1, -0.5, 0, 0.5, 1]],
])('nice ticks for [%d, %d]', (min, max, want) => {
  const ticks = niceTicks(min, max);
  expect(ticks[0]).toBeLessThanOrEqual(min);
  expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(max);
  expect(ticks).toEqual(want);
});

test('a chart: a path and points per series, axis labels, escaped text', () => {
  const svg = lineChart({
    id: 'c', title: 'a <b> & c', xLabel: 'x "axis"', yLabel: 'y',
    series: [{ name: 'p50', points: [{ x: 1, y: 2, label: 'c=1' }, { x: 2, y: 3 }, { x: 3, y: NaN }] }, { name: 'empty', points: [] }],
  });
  expect(svg).toContain('<path class="series-line" d="M');
  expect(svg.match(/<circle class="point"/g)).toHaveLength(2);
  expect(svg).toContain('a &lt;b&gt; &amp; c');
  expect(svg).toContain('x &quot;axis&quot;');
  expect(svg).not.toContain('NaN');
  expect(svg).toContain('data-series="p50"');
  expect(svg).not.toContain('data-series="empty"');
  expect(escapeXml(`'`)).toBe('&#39;');
});

test('progress line, CPU share and the client-bottleneck warning', () => {
  expect(progressLine({ label: 'concurrency 4', elapsedS: 3.2, totalS: 10, rate: 1234.4, p99Ms: 2.345, errors: 1, inflight: 4, backlog: 0 }))
    .toBe('concurrency 4       3/10s     1234 req/s  p99   2.35 ms  errors 1  in flight 4');
  expect(progressLine({ label: 'rate 100/s', elapsedS: 1, totalS: 10, rate: 90, p99Ms: 25, errors: 0, inflight: 9, backlog: 3 })).toMatch(/backlog 3$/);
  expect(cpuShare({ user: 0, system: 0 }, { user: 450_000, system: 50_000 }, 1000)).toBe(0.5);
  expect(clientCpuWarning('concurrency 8', 0.5)).toBeUndefined();
  expect(clientCpuWarning('concurrency 8', 0.97)).toMatch(/^the load generator used 97% of a CPU core during concurrency 8/);
  const table = summaryTable([{ concurrency: 1, durationS: 1, requests: 1, throughput: 12.5, latencyMs: { min: 1, mean: 1, p50: 1, p90: 1, p95: 1, p99: 1, max: 1 }, errorCount: 0, errors: {}, server: null, clientCpu: 0 }]);
  expect(table.split('\n')[1]).toMatch(/^concurrency 1\s+12\.5\s+1\.000/);
});
