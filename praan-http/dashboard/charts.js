// History card: bucketed statistics (min/avg/max) over 1 h / 24 h / 7 d from
// `GET /api/device/{id}/statistics?hours&bucket`, drawn as hand-made SVG line charts (the average
// as a line, the min–max range as a band) plus a table of the range's totals.

import { devicePath, get } from './api.js';
import { card, debounce, h, replace, svg } from './dom.js';
import { fmtNumber } from './format.js';
import { errorText } from './notify.js';
import { METRICS } from './readings.js';

const RANGES = [
  { id: '1h', label: '1 hour', hours: 1, bucket: '1m', bucketMs: 60_000, refreshMs: 30_000 },
  { id: '24h', label: '24 hours', hours: 24, bucket: '15m', bucketMs: 900_000, refreshMs: 60_000 },
  { id: '7d', label: '7 days', hours: 168, bucket: '2h', bucketMs: 7_200_000, refreshMs: 300_000 },
];

const CHARTS = [
  { id: 'pm', title: 'Particulate matter', unit: 'µg/m³', digits: 1, series: ['pm1', 'pm25', 'pm10'] },
  { id: 'temperature', title: 'Temperature', unit: '°C', digits: 1, series: ['temperature'] },
  { id: 'humidity', title: 'Humidity', unit: '%', digits: 0, series: ['humidity'] },
  { id: 'voc', title: 'VOC', unit: 'ppb', digits: 0, series: ['voc'] },
  { id: 'sound', title: 'Sound', unit: 'dB', digits: 0, series: ['sound'] },
];

const HEIGHT = 170;
const MARGIN = { top: 10, right: 12, bottom: 22, left: 44 };
const metricLabel = (key) => METRICS.find((m) => m.key === key)?.label || key;

export function createHistory({ deviceId }) {
  let range = RANGES[1];
  let stats = null;
  let seq = 0;
  let refreshTimer = null;

  const tabs = RANGES.map((r) => {
    const b = h('button', { type: 'button', class: 'btn btn-toggle', text: r.label, dataset: { testid: `range-${r.id}`, range: r.id } });
    b.addEventListener('click', () => { range = r; load(); });
    return b;
  });
  const info = h('p', { class: 'muted history-info', dataset: { testid: 'history-info' }, 'aria-live': 'polite' });
  const table = h('div', { class: 'table-wrap' });
  const chartsEl = h('div', { class: 'charts' });
  const charts = CHARTS.map((c) => createChart(c));
  chartsEl.append(...charts.map((c) => c.el));

  const el = card('History', { class: 'card-wide', dataset: { testid: 'history' } },
    h('div', { class: 'segmented', role: 'group', 'aria-label': 'Range' }, tabs),
    info, chartsEl, table);

  // Charts are drawn at their real pixel width (text stays crisp): redraw when it changes.
  const observer = new ResizeObserver(debounce(() => draw(), 100));
  observer.observe(chartsEl);

  async function load() {
    for (const t of tabs) t.setAttribute('aria-pressed', String(t.dataset.range === range.id));
    clearTimeout(refreshTimer);
    const mine = ++seq;
    try {
      const data = await get(devicePath(deviceId, '/statistics'), { hours: range.hours, bucket: range.bucket });
      if (mine !== seq) return; // a newer request (other range) won
      stats = data;
      info.textContent = `${data.count.toLocaleString()} readings in the last ${range.label}, `
        + `in ${range.bucket} buckets: line = average, band = min–max.`;
      draw();
      replace(table, statsTable(data));
    } catch (err) {
      if (mine !== seq || err.name === 'AbortError') return;
      info.textContent = `Could not load the statistics: ${errorText(err)}`;
    }
    if (mine === seq) refreshTimer = setTimeout(load, range.refreshMs);
  }

  function draw() {
    if (!stats) return;
    for (const c of charts) c.draw(stats, range);
  }

  return {
    el,
    refresh: load,
    dispose() {
      clearTimeout(refreshTimer);
      observer.disconnect();
      seq++;
    },
  };
}

/** The range's totals per metric: min, avg, max, count. */
function statsTable(data) {
  return h('table', { class: 'data-table stats-table', dataset: { testid: 'stats-table' } },
    h('caption', { text: 'Whole range' }),
    h('thead', {}, h('tr', {}, ['Metric', 'Min', 'Avg', 'Max', 'Readings'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, METRICS.map((m) => {
      const s = data.metrics[m.key] || {};
      return h('tr', { dataset: { metric: m.key } },
        h('th', { scope: 'row', dataset: { label: 'Metric' }, text: `${m.label} (${m.unit})` }),
        h('td', { dataset: { label: 'Min' }, text: fmtNumber(s.min, m.digits) }),
        h('td', { dataset: { label: 'Avg' }, text: fmtNumber(s.avg, m.digits) }),
        h('td', { dataset: { label: 'Max' }, text: fmtNumber(s.max, m.digits) }),
        h('td', { dataset: { label: 'Readings' }, text: (s.count ?? 0).toLocaleString() }));
    })));
}

/** One chart: title, legend, a readout of the hovered bucket, and the SVG. */
function createChart(spec) {
  const readout = h('p', { class: 'chart-readout', 'aria-live': 'off' });
  const plot = h('div', { class: 'chart-plot' });
  const legend = spec.series.length > 1
    ? h('ul', { class: 'legend' }, spec.series.map((key, i) => h('li', {},
      h('span', { class: ['swatch', `series-${i}`], 'aria-hidden': 'true' }), metricLabel(key))))
    : null;
  const el = h('figure', { class: ['chart', spec.series.length > 1 && 'multi'], dataset: { testid: `chart-${spec.id}` } },
    h('figcaption', {}, h('span', { class: 'chart-title', text: spec.title }), h('span', { class: 'muted', text: ` ${spec.unit}` })),
    legend, readout, plot);

  function draw(stats, range) {
    const width = Math.max(240, Math.floor(plot.clientWidth || 320));
    const start = Date.parse(stats.start);
    const end = Date.parse(stats.end);
    const series = spec.series.map((key) => points(stats.buckets || [], key, range.bucketMs));
    const all = series.flat();
    const describe = (p, key) => `${metricLabel(key)} avg ${fmtNumber(p.avg, spec.digits)} (min ${fmtNumber(p.min, spec.digits)} · max ${fmtNumber(p.max, spec.digits)})`;
    if (!all.length) {
      replace(plot, h('p', { class: 'chart-empty muted', text: 'No readings in this range.' }));
      readout.textContent = '';
      el.dataset.points = '0';
      return;
    }
    el.dataset.points = String(all.length);
    const [lo, hi] = yDomain(all);
    const plotW = width - MARGIN.left - MARGIN.right;
    const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
    const x = (t) => MARGIN.left + ((t - start) / (end - start)) * plotW;
    const y = (v) => MARGIN.top + (1 - (v - lo) / (hi - lo)) * plotH;

    const root = svg('svg', {
      width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', class: 'chart-svg',
      'aria-label': `${spec.title} over the last ${range.label}: ${spec.series.map((key, i) => {
        const last = series[i][series[i].length - 1];
        return last ? `latest ${describe(last, key)}` : `${metricLabel(key)} no data`;
      }).join('; ')}`,
    });
    root.append(axes(x, y, lo, hi, start, end, range, width, spec.digits));
    series.forEach((pts, i) => root.append(seriesPaths(pts, i, x, y, range.bucketMs)));

    // Hover/tap readout: the bucket nearest the pointer.
    const cursor = svg('line', { class: 'cursor', y1: MARGIN.top, y2: MARGIN.top + plotH, visibility: 'hidden' });
    const overlay = svg('rect', { class: 'overlay', x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH });
    root.append(cursor, overlay);
    const latestText = () => {
      const lastT = Math.max(...series.map((s) => (s.length ? s[s.length - 1].t : 0)));
      return `${timeLabel(lastT, range)} — ${spec.series.map((key, i) => {
        const p = series[i].find((q) => q.t === lastT);
        return p ? describe(p, key) : `${metricLabel(key)} —`;
      }).join(' · ')}`;
    };
    readout.textContent = latestText();
    overlay.addEventListener('pointermove', (event) => {
      const box = root.getBoundingClientRect();
      const t = start + ((event.clientX - box.left - MARGIN.left) / plotW) * (end - start);
      const nearest = all.reduce((a, b) => (Math.abs(b.t - t) < Math.abs(a.t - t) ? b : a));
      cursor.setAttribute('x1', x(nearest.t));
      cursor.setAttribute('x2', x(nearest.t));
      cursor.setAttribute('visibility', 'visible');
      readout.textContent = `${timeLabel(nearest.t, range)} — ${spec.series.map((key, i) => {
        const p = series[i].find((q) => q.t === nearest.t);
        return p ? describe(p, key) : `${metricLabel(key)} —`;
      }).join(' · ')}`;
    });
    overlay.addEventListener('pointerleave', () => {
      cursor.setAttribute('visibility', 'hidden');
      readout.textContent = latestText();
    });
    replace(plot, root);
  }

  return { el, draw };
}

/** The buckets of one metric as points {t (bucket middle), min, avg, max}. */
function points(buckets, key, bucketMs) {
  const out = [];
  for (const b of buckets) {
    const m = b.metrics?.[key];
    if (!m || !m.count || m.avg === null) continue;
    out.push({ t: Date.parse(b.start) + bucketMs / 2, min: m.min, avg: m.avg, max: m.max });
  }
  return out;
}

/** A padded y range with round ends. */
function yDomain(pts) {
  let lo = Math.min(...pts.map((p) => p.min));
  let hi = Math.max(...pts.map((p) => p.max));
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  if (lo < 0 && Math.min(...pts.map((p) => p.min)) >= 0) lo = 0;
  const step = niceStep((hi - lo) / 4);
  return [Math.floor(lo / step) * step, Math.ceil(hi / step) * step];
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

/** Grid lines and tick labels. */
function axes(x, y, lo, hi, start, end, range, width, digits) {
  const g = svg('g', { class: 'axes' });
  const step = niceStep((hi - lo) / 4);
  for (let v = lo; v <= hi + step / 2; v += step) {
    g.append(
      svg('line', { class: 'grid', x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v) }),
      svg('text', { class: 'tick', x: MARGIN.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtNumber(v, step < 1 ? digits : 0)));
  }
  for (const t of timeTicks(start, end, range, width)) {
    g.append(
      svg('line', { class: 'grid grid-x', x1: x(t), x2: x(t), y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom }),
      svg('text', {
        class: 'tick', x: x(t), y: HEIGHT - 6,
        // Keep the labels at the edges inside the chart.
        'text-anchor': x(t) > width - MARGIN.right - 24 ? 'end' : x(t) < MARGIN.left + 24 ? 'start' : 'middle',
      }, tickLabel(t, range)));
  }
  return g;
}

/** Tick times on local-clock boundaries: every 10/15 min, 3/6 h, or day. */
function timeTicks(start, end, range, width) {
  const narrow = width < 480;
  const d = new Date(start);
  const ticks = [];
  if (range.id === '1h') {
    const step = narrow ? 15 : 10;
    d.setSeconds(0, 0);
    d.setMinutes(Math.ceil(d.getMinutes() / step) * step);
    for (; d.getTime() <= end; d.setMinutes(d.getMinutes() + step)) ticks.push(d.getTime());
  } else if (range.id === '24h') {
    const step = narrow ? 6 : 3;
    d.setMinutes(0, 0, 0);
    if (d.getTime() < start) d.setHours(d.getHours() + 1);
    while (d.getHours() % step) d.setHours(d.getHours() + 1);
    for (; d.getTime() <= end; d.setHours(d.getHours() + step)) ticks.push(d.getTime());
  } else {
    d.setHours(24, 0, 0, 0);
    for (; d.getTime() <= end; d.setDate(d.getDate() + 1)) ticks.push(d.getTime());
  }
  return ticks.filter((t) => t >= start);
}

const hhmm = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const hour = new Intl.DateTimeFormat(undefined, { hour: 'numeric' });
const weekday = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric' });
const dayTime = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' });

function tickLabel(t, range) {
  if (range.id === '7d') return weekday.format(t);
  return range.id === '24h' ? hour.format(t) : hhmm.format(t);
}

function timeLabel(t, range) {
  return range.id === '7d' ? dayTime.format(t) : hhmm.format(t);
}

/** The min–max band and the average line of one series, broken where buckets are missing. */
function seriesPaths(pts, index, x, y, bucketMs) {
  const g = svg('g', { class: `series series-${index}` });
  for (const seg of segments(pts, bucketMs)) {
    const top = seg.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.max).toFixed(1)}`).join('');
    const bottom = seg.slice().reverse().map((p) => `L${x(p.t).toFixed(1)},${y(p.min).toFixed(1)}`).join('');
    if (seg.length > 1) {
      g.append(svg('path', { class: 'band', d: `${top}${bottom}Z` }));
      g.append(svg('path', { class: 'line', d: seg.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.avg).toFixed(1)}`).join('') }));
    } else {
      const p = seg[0];
      g.append(svg('line', { class: 'band-single', x1: x(p.t), x2: x(p.t), y1: y(p.min), y2: y(p.max) }));
      g.append(svg('circle', { class: 'dot', cx: x(p.t), cy: y(p.avg), r: 2.5 }));
    }
  }
  return g;
}

/** Splits points where the gap exceeds 1.5 buckets (no line across missing data). */
function segments(pts, bucketMs) {
  const out = [];
  let current = [];
  for (const p of pts) {
    if (current.length && p.t - current[current.length - 1].t > bucketMs * 1.5) {
      out.push(current);
      current = [];
    }
    current.push(p);
  }
  if (current.length) out.push(current);
  return out;
}
