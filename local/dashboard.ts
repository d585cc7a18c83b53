// The dashboard page: one self-contained HTML document (no network beyond this router) that polls
// /api/local every second and draws, per ModelDeployment, its replicas, request rate, p50/p99 latency, the
// autoscaler's last decision, recent scale events and an SVG chart of the last five minutes; for a generative model,
// also tokens per second, the mean time to first token and the sequences running.

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>modelplane local</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d232b; }
  header { padding: 12px 20px; background: #1d232b; color: #fff; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header span { opacity: .75; }
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); }
  section.deployment { background: #fff; border: 1px solid #dde1e6; border-radius: 8px; padding: 12px 16px; }
  section h2 { margin: 0 0 4px; font-size: 16px; display: flex; gap: 8px; align-items: center; }
  .badge { font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #e5e7eb; }
  .badge.True { background: #d1fae5; color: #065f46; } .badge.False { background: #fee2e2; color: #991b1b; }
  .stats { display: flex; gap: 18px; margin: 8px 0; }
  .stats div b { display: block; font-size: 18px; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; }
  td, th { text-align: left; padding: 2px 6px; border-bottom: 1px solid #eef0f3; }
  .muted { color: #6b7280; font-size: 12px; }
  .events { font-size: 12px; max-height: 110px; overflow: auto; margin: 6px 0 0; padding-left: 16px; }
  svg.chart { width: 100%; height: 140px; background: #fbfbfc; border: 1px solid #eef0f3; }
  .legend span { font-size: 12px; margin-right: 12px; }
  .problems { grid-column: 1 / -1; background: #fff7ed; border: 1px solid #fed7aa; border-radius: 8px; padding: 8px 16px; }
</style>
</head>
<body>
<header><h1>modelplane local</h1><span id="router"></span><span id="updated"></span></header>
<main id="main"><p class="muted">loading…</p></main>
<script>
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const count = (n, one) => n + ' ' + (n === 1 ? one : one + 's');
const ms = (s) => (s === undefined || s === null ? '–' : (s * 1000).toFixed(s < 0.01 ? 2 : 1) + ' ms');

function chart(history) {
  const W = 600, H = 140, P = 4;
  const n = history.length;
  if (!n) return '<svg class="chart"></svg>';
  const maxRate = Math.max(1, ...history.map((p) => p.rate));
  const maxRep = Math.max(1, ...history.map((p) => p.readyReplicas));
  const x = (i) => P + (i * (W - 2 * P)) / Math.max(1, n - 1);
  const yr = (v) => H - P - (v / maxRate) * (H - 2 * P);
  const yp = (v) => H - P - (v / maxRep) * (H - 2 * P) * 0.9;
  const rate = history.map((p, i) => x(i).toFixed(1) + ',' + yr(p.rate).toFixed(1)).join(' ');
  const reps = history.map((p, i) => x(i).toFixed(1) + ',' + yp(p.readyReplicas).toFixed(1)).join(' ');
  return '<svg class="chart" viewBox="0 0 ' + W + ' ' + H + '" preserveAspectRatio="none" role="img" aria-label="requests per second and ready replicas, last ' + n + ' seconds">' +
    '<polyline class="rate" fill="none" stroke="#2563eb" stroke-width="1.5" points="' + rate + '"/>' +
    '<polyline class="replicas" fill="none" stroke="#16a34a" stroke-width="2" stroke-dasharray="4 2" points="' + reps + '"/>' +
    '<text x="6" y="14" font-size="11" fill="#2563eb">' + maxRate.toFixed(0) + ' req/s</text>' +
    '<text x="' + (W - 6) + '" y="14" font-size="11" fill="#16a34a" text-anchor="end">' + count(maxRep, 'replica') + '</text></svg>';
}

function generationStats(g) {
  if (!g) return '';
  return '<div class="stats generation" title="over the last ' + g.windowSeconds + ' s">' +
    '<div><b class="tokens">' + g.tokensPerSecond.toFixed(1) + '</b>tokens/s</div>' +
    '<div><b class="ttft">' + ms(g.timeToFirstTokenSeconds) + '</b>time to first token</div>' +
    '<div><b class="running">' + g.runningSequences + '</b>running sequences</div>' +
    (g.waitingSequences ? '<div><b class="waiting">' + g.waitingSequences + '</b>waiting</div>' : '') +
  '</div>';
}

function card(d) {
  const cold = d.coldStarts || { count: 0 };
  const ready = d.conditions.find((c) => c.type === 'Ready') || {};
  const rows = d.replicas.map((r) => '<tr><td>' + esc(r.id) + '</td><td>' + esc(r.phase) + (r.current ? '' : ' (old)') + '</td><td>' + esc(r.pid) + '</td><td>' + esc(r.port) + '</td><td>' + r.inflight + '</td><td>' + r.restarts + '</td></tr>').join('');
  const events = d.events.slice().reverse().map((e) => '<li><span class="muted">' + esc(e.time.slice(11, 19)) + '</span> ' + esc(e.type) + ': ' + esc(e.message) + '</li>').join('');
  const as = d.autoscaler ? '<div class="muted">autoscaler: ' + esc(d.autoscaler.reason) + (d.autoscaler.panicking ? ' (panic)' : '') + '</div>' : '';
  return '<section class="deployment" data-name="' + esc(d.name) + '">' +
    '<h2>' + esc(d.name) + ' <span class="badge ' + esc(ready.status) + '">' + esc(ready.reason || 'Unknown') + '</span></h2>' +
    '<div class="muted">model <code>' + esc(d.model) + '</code> from ' + esc(d.uri) + '</div>' +
    (ready.status !== 'True' && ready.message ? '<div class="muted">' + esc(ready.message) + '</div>' : '') +
    '<div class="stats">' +
      '<div><b class="replicas">' + d.readyReplicas + '/' + d.desiredReplicas + '</b>' + (d.desiredReplicas === 1 ? 'replica' : 'replicas') + ' ready</div>' +
      '<div><b class="rate">' + d.rate.toFixed(1) + '</b>req/s</div>' +
      '<div><b class="p50">' + ms(d.p50) + '</b>p50</div>' +
      '<div><b class="p99">' + ms(d.p99) + '</b>p99</div>' +
      '<div><b>' + d.inflight + '</b>in flight</div>' +
      '<div><b class="cold-starts">' + cold.count + '</b>cold starts' + (cold.meanSeconds !== undefined ? ' (mean ' + ms(cold.meanSeconds) + ')' : '') + '</div>' +
    '</div>' + (d.scaledToZero ? '<div class="scaled-to-zero">scaled to zero: the next request starts a replica</div>' : '') + generationStats(d.textGeneration) + as +
    chart(d.history) +
    '<div class="legend"><span style="color:#2563eb">— requests/s</span><span style="color:#16a34a">- - ready replicas</span><span class="muted">last ' + Math.round(d.history.length / 60) + ' min</span></div>' +
    '<table><thead><tr><th>replica</th><th>phase</th><th>pid</th><th>port</th><th>in flight</th><th>restarts</th></tr></thead><tbody>' + rows + '</tbody></table>' +
    (events ? '<ul class="events">' + events + '</ul>' : '<p class="muted">no scale events yet</p>') +
    '</section>';
}

async function refresh() {
  try {
    const r = await fetch('/api/local', { cache: 'no-store' });
    const s = await r.json();
    document.getElementById('router').textContent = s.router;
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    const problems = s.invalid.map((p) => '<li><b>' + esc(p.name || p.source) + '</b>: ' + esc(p.errors.map((e) => (e.field || '<root>') + ': ' + e.message + ' (' + e.reason + ')').join('; ')) + '</li>').join('');
    document.getElementById('main').innerHTML =
      (problems ? '<div class="problems"><b>Not running</b><ul>' + problems + '</ul></div>' : '') +
      (s.deployments.length ? s.deployments.map(card).join('') : '<p class="muted">no ModelDeployments</p>');
  } catch (e) {
    document.getElementById('updated').textContent = 'router unreachable';
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
