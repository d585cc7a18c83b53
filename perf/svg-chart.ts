// Line charts as inline SVG text, for a report that opens anywhere without a network or a script.

export interface ChartPoint {
  x: number;
  y: number;
  /** Shown beside the point and in its tooltip (e.g. "c=4"). */
  label?: string;
}

export interface ChartSeries {
  name: string;
  points: ChartPoint[];
}

export interface ChartSpec {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** Categorical x axis: point x values are indexes into these names. */
  categories?: string[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
const W = 720;
const H = 340;
const M = { left: 72, right: 150, top: 36, bottom: 56 };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** About `count` round tick values covering [min, max] (1, 2 or 5 times a power of ten apart). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (max === min) {
    const pad = max === 0 ? 1 : Math.abs(max) * 0.1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const ticks: number[] = [];
  for (let v = Math.floor(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  if (ticks[ticks.length - 1] < max) ticks.push(+(ticks[ticks.length - 1] + step).toPrecision(12));
  return ticks;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(4));
}

/** An SVG line chart: axes with ticks and labels, one path plus point markers per series, a legend. */
export function lineChart(spec: ChartSpec): string {
  const pts = spec.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const cats = spec.categories;
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const yTicks = niceTicks(0, Math.max(...ys, 0) || 1);
  const xTicks = cats ? cats.map((_, i) => i) : niceTicks(xs.length ? Math.min(0, ...xs) : 0, xs.length ? Math.max(...xs) : 1);
  const [x0, x1] = cats ? [-0.5, Math.max(cats.length - 0.5, 0.5)] : [xTicks[0], xTicks[xTicks.length - 1]];
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => +(M.left + ((x - x0) / (x1 - x0 || 1)) * pw).toFixed(2);
  const sy = (y: number) => +(M.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph).toFixed(2);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="${escapeXml(spec.id)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(spec.title)}">`);
  out.push(`<text class="chart-title" x="${M.left}" y="20" font-size="15" font-weight="600">${escapeXml(spec.title)}</text>`);
  out.push('<g class="grid" stroke="#e4e4e4">');
  for (const t of yTicks) out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(t)}" y2="${sy(t)}"/>`);
  out.push('</g>');
  out.push(`<g class="axis y-axis" font-size="11" text-anchor="end">`);
  for (const t of yTicks) out.push(`<text class="tick" x="${M.left - 6}" y="${sy(t) + 4}">${fmt(t)}</text>`);
  out.push('</g>');
  out.push(`<g class="axis x-axis" font-size="11" text-anchor="middle">`);
  for (const t of xTicks) out.push(`<text class="tick" x="${sx(t)}" y="${M.top + ph + 16}">${escapeXml(cats ? cats[t] : fmt(t))}</text>`);
  out.push('</g>');
  out.push(`<path class="axis-line" d="M${M.left},${M.top}V${M.top + ph}H${M.left + pw}" fill="none" stroke="#333"/>`);
  out.push(`<text class="axis-label x-label" x="${M.left + pw / 2}" y="${H - 12}" font-size="12" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  out.push(`<text class="axis-label y-label" transform="translate(16 ${M.top + ph / 2}) rotate(-90)" font-size="12" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`);
  spec.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const valid = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    if (valid.length === 0) return;
    const d = valid.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p.x)},${sy(p.y)}`).join('');
    out.push(`<g class="series" data-series="${escapeXml(s.name)}">`);
    out.push(`<path class="series-line" d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of valid) {
      const tip = `${s.name}${p.label ? ` (${p.label})` : ''}: ${fmt(p.y)} at ${cats ? cats[p.x] : fmt(p.x)}`;
      out.push(`<circle class="point" cx="${sx(p.x)}" cy="${sy(p.y)}" r="3.5" fill="${color}"><title>${escapeXml(tip)}</title></circle>`);
    }
    if (i === 0) {
      for (const p of valid) if (p.label) out.push(`<text class="point-label" x="${sx(p.x) + 5}" y="${sy(p.y) - 6}" font-size="10" fill="#555">${escapeXml(p.label)}</text>`);
    }
    out.push('</g>');
    const ly = M.top + 8 + i * 18;
    out.push(`<g class="legend"><line x1="${W - M.right + 12}" x2="${W - M.right + 32}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/><text x="${W - M.right + 38}" y="${ly + 4}" font-size="12">${escapeXml(s.name)}</text></g>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
