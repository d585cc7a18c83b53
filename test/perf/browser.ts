// Opens a report in Debian's headless Chromium (playwright-core) and reads back what it drew.
import { chromium, type Browser } from 'playwright-core';
import { pathToFileURL } from 'node:url';

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface DrawnChart {
  id: string;
  width: number;
  height: number;
  title: string;
  axisLabels: string[];
  ticks: string[];
  /** Per series: its name, the number of segments its line has, its drawn length, and its points. */
  series: { name: string; segments: number; length: number; points: number }[];
}

export interface DrawnReport {
  charts: DrawnChart[];
  /** Requests the page made other than for itself: a self-contained page makes none. */
  outsideRequests: string[];
  tables: number;
  text: string;
}

export async function drawReport(path: string): Promise<DrawnReport> {
  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
  try {
    const page = await browser.newPage();
    const url = pathToFileURL(path).href;
    const outsideRequests: string[] = [];
    page.on('request', (r) => {
      if (r.url() !== url) outsideRequests.push(r.url());
    });
    await page.goto(url);
    const charts = await page.$$eval('svg.chart', (svgs) =>
      svgs.map((svg) => {
        const box = svg.getBoundingClientRect();
        return {
          id: svg.id,
          width: box.width,
          height: box.height,
          title: svg.querySelector('.chart-title')?.textContent ?? '',
          axisLabels: [...svg.querySelectorAll('.axis-label')].map((t) => t.textContent ?? ''),
          ticks: [...svg.querySelectorAll('.tick')].map((t) => t.textContent ?? ''),
          series: [...svg.querySelectorAll('g.series')].map((g) => {
            const path = g.querySelector('path.series-line') as SVGPathElement;
            return {
              name: g.getAttribute('data-series') ?? '',
              segments: (path.getAttribute('d')!.match(/[ML]/g) ?? []).length,
              length: path.getTotalLength(),
              points: [...g.querySelectorAll('circle.point')].filter((c) => (c as SVGCircleElement).getBBox().width > 0).length,
            };
          }),
        };
      }),
    );
    const tables = await page.$$eval('table', (t) => t.length);
    const text = await page.innerText('body');
    return { charts, outsideRequests, tables, text };
  } finally {
    await browser.close();
  }
}
