// The live readings card: the newest value of every metric and the time of the newest reading,
// updated from the event stream.

import { card, h, setText } from './dom.js';
import { fmtFull, fmtNumber, fmtTime } from './format.js';
import { relativeTime } from './ticker.js';

/** The metrics the dashboard shows, in order: wire name, label, unit, decimals. */
export const METRICS = [
  { key: 'pm1', label: 'PM1', unit: 'µg/m³', digits: 1 },
  { key: 'pm25', label: 'PM2.5', unit: 'µg/m³', digits: 1 },
  { key: 'pm10', label: 'PM10', unit: 'µg/m³', digits: 1 },
  { key: 'temperature', label: 'Temperature', unit: '°C', digits: 1 },
  { key: 'humidity', label: 'Humidity', unit: '%', digits: 0 },
  { key: 'voc', label: 'VOC', unit: 'ppb', digits: 0 },
  { key: 'sound', label: 'Sound', unit: 'dB', digits: 0 },
];

// PM2.5 air-quality bands (US EPA breakpoints, µg/m³), so the number has a meaning in words.
const PM25_BANDS = [
  [9.0, 'Good', 'good'], [35.4, 'Moderate', 'moderate'], [55.4, 'Unhealthy for sensitive groups', 'poor'],
  [125.4, 'Unhealthy', 'bad'], [225.4, 'Very unhealthy', 'bad'], [Infinity, 'Hazardous', 'bad'],
];

export function createReadings() {
  let latest = null;
  const values = new Map();
  const tiles = METRICS.map((m) => {
    const value = h('span', { class: 'tile-value', dataset: { testid: `reading-${m.key}` }, text: '—' });
    values.set(m.key, value);
    return h('div', { class: 'tile', dataset: { metric: m.key } },
      h('span', { class: 'tile-label', text: m.label }),
      h('span', { class: 'tile-reading' }, value, h('span', { class: 'tile-unit', text: ` ${m.unit}` })));
  });
  const band = h('span', { class: 'aq-band', dataset: { testid: 'pm25-band' } });
  values.get('pm25').parentElement.after(band);

  const time = h('span', { class: 'latest-time', dataset: { testid: 'latest-reading-time' }, text: 'No reading yet' });
  const ago = h('span', { class: 'muted' });
  const el = card('Live readings', { class: 'card-wide', dataset: { testid: 'readings' } },
    h('p', { class: 'latest-line' }, 'Latest reading: ', time, ' ', ago),
    h('div', { class: 'tiles' }, tiles));

  /** Shows `reading` if it is newer than the one shown. */
  function show(reading) {
    if (!reading) return;
    if (latest && Date.parse(reading.timestamp) < Date.parse(latest.timestamp)) return;
    latest = reading;
    for (const m of METRICS) {
      const valueEl = values.get(m.key);
      setText(valueEl, fmtNumber(reading[m.key], m.digits));
      valueEl.dataset.value = reading[m.key] ?? '';
    }
    const pm25 = reading.pm25;
    const [, label, tone] = PM25_BANDS.find(([max]) => pm25 <= max) || [];
    band.textContent = Number.isFinite(pm25) ? label : '';
    band.dataset.tone = tone || '';
    setText(time, fmtTime(reading.timestamp));
    time.title = fmtFull(reading.timestamp);
    time.dataset.timestamp = reading.timestamp;
    ago.replaceChildren('(', relativeTime(reading.timestamp), ')');
    time.classList.remove('flash');
    void time.offsetWidth; // restart the highlight animation
    time.classList.add('flash');
  }

  return { el, show };
}
