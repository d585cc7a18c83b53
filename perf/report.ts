// report.html: one self-contained page (nothing executed, nothing fetched) with the run's charts as inline SVG and its tables.
import type { PerfResults, StepResult } from './results.js';
import { escapeXml as esc, lineChart, type ChartSeries } from './svg-chart.js';

export function stepLabel(s: { concurrency?: number; rate?: number }): string {
  return s.concurrency !== undefined ? `c=${s.concurrency}` : `${s.rate}/s`;
}

const num = (v: number | null | undefined, digits = 3) => (v === null || v === undefined ? '–' : String(+v.toFixed(digits)));
const errorsText = (e: Record<string, number>) => Object.entries(e).map(([k, v]) => `${esc(k)}: ${v}`).join('<br>') || '0';

function stepsTable(steps: StepResult[]): string {
  const head = ['load', 'requests', 'throughput (req/s)', 'p50 ms', 'p90 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors', 'server queue ms', 'server compute ms', 'batch size', 'client CPU'];
  const rows = steps.map((s) => [
    stepLabel(s), String(s.requests), num(s.throughput, 1), num(s.latencyMs.p50), num(s.latencyMs.p90), num(s.latencyMs.p95), num(s.latencyMs.p99), num(s.latencyMs.max),
    errorsText(s.errors), num(s.server?.queueMs), num(s.server?.computeMs), num(s.server?.batchSize, 2), `${Math.round(s.clientCpu * 100)}%`,
  ]);
  return `<table class="steps"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

/** --generate: genai-perf's figures per step, with the server's view beside them. */
function generationTable(steps: StepResult[]): string {
  const head = ['load', 'requests', 'req/s', 'output tokens', 'output tok/s', 'TTFT p50 ms', 'TTFT p90 ms', 'TTFT p99 ms', 'ITL p50 ms', 'ITL p99 ms', 'prompt tokens (asked / counted)', 'errors', 'server queue ms', 'server TTFT ms', 'server ITL ms', 'decode batch'];
  const rows = steps.map((s) => {
    const g = s.generation!;
    return [stepLabel(s), String(s.requests), num(g.requestsPerS, 1), String(g.outputTokens), num(g.outputTokensPerS, 1), num(g.ttftMs.p50), num(g.ttftMs.p90), num(g.ttftMs.p99), num(g.itlMs.p50), num(g.itlMs.p99),
      `${g.promptTokens.asked} / ${num(g.promptTokens.counted, 1)}`, errorsText(s.errors), num(s.server?.queueMs), num(s.server?.ttftMs), num(s.server?.itlMs), num(s.server?.batchSize, 2)];
  });
  return `<table class="generation"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function generationCharts(steps: StepResult[]): string[] {
  const gen = steps.filter((s) => s.generation);
  if (!gen.length) return [];
  return [
    lineChart({
      id: 'ttft-throughput',
      title: 'Time to first token against output tokens per second',
      xLabel: 'output tokens/s',
      yLabel: 'time to first token (ms)',
      series: (['p50', 'p90', 'p99'] as const).map((p) => ({ name: `TTFT ${p}`, points: gen.map((s) => ({ x: s.generation!.outputTokensPerS, y: s.generation!.ttftMs[p], label: stepLabel(s) })) })),
    }),
    lineChart({
      id: 'inter-token-latency',
      title: 'Inter-token latency per step',
      xLabel: 'step',
      yLabel: 'inter-token latency (ms)',
      categories: gen.map(stepLabel),
      series: (['p50', 'p99'] as const).map((p) => ({ name: `ITL ${p}`, points: gen.map((s, i) => ({ x: i, y: s.generation!.itlMs[p] })) })),
    }),
  ];
}

function stepCharts(steps: StepResult[]): string[] {
  const charts: string[] = [];
  const percentiles = ['p50', 'p90', 'p99'] as const;
  charts.push(lineChart({
    id: 'latency-throughput',
    title: 'Latency against throughput',
    xLabel: 'throughput (requests/s)',
    yLabel: 'latency (ms)',
    series: percentiles.map((p) => ({ name: p, points: steps.map((s) => ({ x: s.throughput, y: s.latencyMs[p], label: stepLabel(s) })) })),
  }));
  const cats = steps.map(stepLabel);
  charts.push(lineChart({
    id: 'latency-percentiles',
    title: 'Latency percentiles per step',
    xLabel: steps[0]?.rate !== undefined ? 'request rate (open loop)' : 'concurrency (closed loop)',
    yLabel: 'latency (ms)',
    categories: cats,
    series: (['p50', 'p90', 'p95', 'p99', 'max'] as const).map((p) => ({ name: p, points: steps.map((s, i) => ({ x: i, y: s.latencyMs[p] })) })),
  }));
  if (steps.some((s) => s.server)) {
    const server: ChartSeries[] = [
      { name: 'client p50', points: steps.map((s, i) => ({ x: i, y: s.latencyMs.p50 })) },
      { name: 'server queue', points: steps.flatMap((s, i) => (s.server?.queueMs != null ? [{ x: i, y: s.server.queueMs }] : [])) },
      { name: 'server compute', points: steps.flatMap((s, i) => (s.server?.computeMs != null ? [{ x: i, y: s.server.computeMs }] : [])) },
    ];
    charts.push(lineChart({ id: 'server-breakdown', title: 'Client latency beside server queue and compute time', xLabel: 'step', yLabel: 'time (ms)', categories: cats, series: server }));
  }
  return charts;
}

function soakSection(r: PerfResults): string {
  const soak = r.soak!;
  const ivs = soak.intervals;
  const latency = lineChart({
    id: 'soak-latency',
    title: 'Soak: latency over time',
    xLabel: 'time (s)',
    yLabel: 'latency (ms)',
    series: (['p50', 'p99'] as const).map((p) => ({ name: p, points: ivs.map((iv) => ({ x: iv.endS, y: iv.latencyMs[p] })) })),
  });
  const memPoints = ivs.flatMap((iv) => (iv.residentBytes !== null ? [{ x: iv.endS, y: +(iv.residentBytes / 2 ** 20).toFixed(2) }] : []));
  const memory = memPoints.length
    ? lineChart({ id: 'soak-memory', title: 'Soak: server resident memory over time', xLabel: 'time (s)', yLabel: 'resident memory (MiB)', series: [{ name: 'RSS', points: memPoints }] })
    : '<p class="note">The server exports no process_resident_memory_bytes: no memory chart.</p>';
  const throughput = lineChart({
    id: 'soak-throughput',
    title: 'Soak: throughput and errors over time',
    xLabel: 'time (s)',
    yLabel: 'per second',
    series: [
      { name: 'answers/s', points: ivs.map((iv) => ({ x: iv.endS, y: iv.throughput })) },
      { name: 'errors/s', points: ivs.map((iv) => ({ x: iv.endS, y: +(iv.errorCount / Math.max(iv.endS - iv.startS, 1e-3)).toFixed(3) })) },
    ],
  });
  const head = ['interval (s)', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'p50 drift', 'p99 drift', 'errors', 'resident MiB'];
  const rows = ivs.map((iv) => [`${num(iv.startS, 1)}–${num(iv.endS, 1)}`, String(iv.requests), num(iv.throughput, 1), num(iv.latencyMs.p50), num(iv.latencyMs.p99), num(iv.latencyMs.max),
    `${iv.driftPct.p50}%`, `${iv.driftPct.p99}%`, errorsText(iv.errors), iv.residentBytes === null ? '–' : num(iv.residentBytes / 2 ** 20, 1)]);
  const mem = soak.memory;
  return `<section id="soak"><h2>Soak at ${esc(stepLabel(soak))} for ${soak.durationS} s</h2>
<p>Median latency drift, last interval against the first: <b>${soak.driftPct}%</b> (limit ${r.settings.maxDriftPct}%).
Server resident memory: ${mem.startBytes === null ? 'not exported' : `${num(mem.startBytes / 2 ** 20, 1)} MiB → ${num(mem.endBytes! / 2 ** 20, 1)} MiB (${mem.growthPct}%)`}.
Errors: ${errorsText(soak.totals.errors)}.</p>
${stepsTable([soak.totals])}
${latency}
${memory}
${throughput}
<table class="soak"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((row) => `<tr>${row.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>
</section>`;
}

function generationSection(r: PerfResults): string {
  const g = r.settings.generate;
  if (!g) return '';
  return `<p>Generations through ${esc(r.target.endpoint ?? g.endpoint)}, streamed: prompts of ${g.promptTokens} tokens (made with ${esc(g.tokenizer)}), max_tokens ${g.outputTokens} with ignore_eos.
Time to first token runs to the first chunk with text; inter-token latency is each request's time from its first token to its last over the tokens between (genai-perf's figures); the latency columns below are end to end.</p>
${generationCharts(r.steps).join('\n')}
${generationTable(r.steps)}
`;
}

export function renderReport(r: PerfResults): string {
  const t = r.target;
  const verdict = r.verdict.ok ? '<p class="ok">Passed: errors and drift within their limits.</p>' : `<ul class="failed">${r.verdict.reasons.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>`;
  const warnings = r.warnings.length ? `<section id="warnings"><h2>Warnings</h2><ul>${r.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul></section>` : '';
  const steps = r.steps.length && !r.soak
    ? `<section id="steps"><h2>${r.settings.mode === 'rate' ? 'Open-loop rate sweep' : 'Concurrency sweep'}</h2>
<p>${r.steps.length} step(s) of ${r.settings.durationS} s after ${r.settings.warmupS} s of warm-up. Latency is measured on the client${r.settings.mode === 'rate' ? ' from the time each request was due, so time spent waiting to be sent counts' : ' from the send of each request to its answer'}; server queue time is per request and compute time per model run, from the server's /metrics.</p>
${r.serverMetrics?.note ? `<p class="note" id="server-note">${esc(r.serverMetrics.note)}</p>\n` : ''}${generationSection(r)}${stepCharts(r.steps).join('\n')}
${stepsTable(r.steps)}
</section>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>modelplane perf: ${esc(t.model)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; vertical-align: top; }
th { background: #f3f3f3; }
svg.chart { display: block; margin: 16px 0; }
.ok { color: #14632a; } .failed { color: #a11; } .note { color: #666; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; } dt { font-weight: 600; }
</style>
</head>
<body>
<h1>modelplane perf: ${esc(t.model)}</h1>
<dl>
<dt>Endpoint</dt><dd>${esc(t.url)} (${esc(t.protocol)}${t.binary ? ', binary tensors' : ', JSON tensors'})</dd>
${r.settings.generate ? `<dt>Requests</dt><dd>POST ${esc(t.endpoint ?? '')}: ${r.settings.generate.promptTokens} prompt tokens, ${r.settings.generate.outputTokens} output tokens</dd>` : `<dt>Inputs</dt><dd>${t.inputs.map((i) => `${esc(i.name)} ${esc(i.datatype)} [${i.shape.join(',')}]`).join(', ')} (${esc(r.settings.inputData)} data)</dd>`}
<dt>Started</dt><dd>${esc(r.startedAt)}</dd>
<dt>modelplane</dt><dd>${esc(r.version)}</dd>
</dl>
${verdict}
${warnings}
${steps}
${r.soak ? soakSection(r) : ''}
<script type="application/json" id="results">${JSON.stringify(r).replace(/</g, '\\u003c')}</script>
</body>
</html>
`;
}
