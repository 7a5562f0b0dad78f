// Command history card: the device's commands, newest first, with status, source, attempts and
// errors; updated live from the stream's `command` events.

import { devicePath, get } from './api.js';
import { card, h, replace } from './dom.js';
import { fmtCommand, fmtFull, fmtTime, shortId, statusTone } from './format.js';
import { errorText } from './notify.js';

const LIMIT = 50;
const STATUSES = ['pending', 'sent', 'acknowledged', 'failed', 'timeout', 'expired', 'superseded', 'cancelled'];

export function createCommands({ deviceId }) {
  let commands = [];
  let seq = 0;

  const filter = h('select', { dataset: { testid: 'command-filter' } },
    h('option', { value: '', text: 'All statuses' }),
    STATUSES.map((s) => h('option', { value: s, text: s })));
  const body = h('tbody');
  const info = h('p', { class: 'muted', dataset: { testid: 'command-info' } });
  const table = h('table', { class: 'data-table cards command-table', dataset: { testid: 'command-history' } },
    h('caption', { class: 'visually-hidden', text: 'Commands, newest first' }),
    h('thead', {}, h('tr', {}, ['Created', 'Command', 'Source', 'Status', 'Attempts', 'Result'].map((t) => h('th', { scope: 'col', text: t })))),
    body);

  const el = card('Command history', { class: 'card-wide', dataset: { testid: 'commands' } },
    h('div', { class: 'toolbar' }, h('label', { class: 'field field-inline' }, h('span', { class: 'field-label', text: 'Status' }), filter)),
    h('div', { class: 'table-wrap' }, table),
    info);
  filter.addEventListener('change', load);

  async function load() {
    const mine = ++seq;
    try {
      const list = await get(devicePath(deviceId, '/commands'), { limit: LIMIT, status: filter.value || undefined });
      if (mine !== seq) return;
      commands = list;
      render();
    } catch (err) {
      if (mine !== seq || err.name === 'AbortError') return;
      info.textContent = `Could not load the commands: ${errorText(err)}`;
    }
  }

  function render() {
    replace(body, commands.map(commandRow));
    info.textContent = commands.length
      ? `Showing the newest ${commands.length}${commands.length === LIMIT ? ` (at most ${LIMIT})` : ''}.`
      : 'No commands yet.';
  }

  /** A command from the stream: replace or insert it (newest first). */
  function onCommand(command) {
    if (filter.value && command.status !== filter.value) {
      commands = commands.filter((c) => c.commandId !== command.commandId);
    } else {
      const i = commands.findIndex((c) => c.commandId === command.commandId);
      if (i >= 0) commands[i] = command;
      else commands = [command, ...commands].slice(0, LIMIT);
    }
    render();
  }

  return { el, refresh: load, onCommand, dispose() { seq++; } };
}

function commandRow(c) {
  const tone = statusTone(c.status);
  const attempts = c.attempts || [];
  const result = c.error || c.deviceResponse?.message || (c.lateAck ? 'late ack received' : '');
  return h('tr', { dataset: { testid: 'command-row', commandId: c.commandId, status: c.status } },
    h('td', { dataset: { label: 'Created' } }, h('time', { datetime: c.createdAt, title: fmtFull(c.createdAt), text: fmtTime(c.createdAt) })),
    h('td', { dataset: { label: 'Command' } }, h('span', { text: fmtCommand(c) }), h('span', { class: 'muted cmd-id', title: c.commandId, text: ` ${shortId(c.commandId)}` })),
    h('td', { dataset: { label: 'Source' }, text: c.source }),
    h('td', { dataset: { label: 'Status' } },
      h('span', { class: ['status-pill', `tone-${tone}`], dataset: { testid: 'command-row-status' }, text: c.status }),
      c.acknowledgedAt ? h('span', { class: 'muted', text: ` ${fmtTime(c.acknowledgedAt)}` }) : null),
    h('td', { dataset: { label: 'Attempts' } }, attempts.length
      ? h('details', { class: 'attempts' },
        h('summary', { text: `${attempts.length} (${c.retryCount} ${c.retryCount === 1 ? 'retry' : 'retries'})` }),
        h('ol', {}, attempts.map((a) => h('li', { text: `#${a.number} at ${fmtTime(a.at)}${a.error ? ` — ${a.error}` : ''}` }))))
      : h('span', { class: 'muted', text: '0' })),
    h('td', { dataset: { label: 'Result' }, class: 'cell-result', text: result || '—' }));
}
