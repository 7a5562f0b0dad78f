// The live event stream (`GET /api/events`, text/event-stream) read with fetch() and a streaming
// reader rather than EventSource, because EventSource cannot send the Authorization header.
// Reconnects with exponential backoff; the server does not replay missed events, so every
// (re)connection calls `onOpen`, on which views reload what they show.

import { authHeaders } from './api.js';
import { getKey, keySet, promptForKey } from './auth.js';

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30000;

let statusListener = () => {};

/** Receives every stream's status: 'connecting', 'open', 'retrying', 'auth', 'closed'. */
export function setStreamStatusListener(listener) {
  statusListener = listener;
}

/**
 * Opens a stream on `path`. `onEvent(name, data, id)` gets each event with its data parsed as
 * JSON (events whose data is not JSON are skipped); `onOpen()` is called on each connection.
 * Returns `{ close() }`.
 */
export function openEventStream(path, { onEvent, onOpen }) {
  const controller = new AbortController();
  let closed = false;

  const run = async () => {
    let backoff = MIN_BACKOFF_MS;
    while (!closed) {
      statusListener('connecting');
      const outcome = await connectOnce(path, controller.signal, onEvent, () => {
        backoff = MIN_BACKOFF_MS;
        statusListener('open');
        onOpen?.();
      });
      if (closed) break;
      if (outcome.unauthorized) {
        statusListener('auth');
        await waitForKey(outcome.message);
        continue;
      }
      statusListener('retrying', outcome.message);
      await sleep(backoff * (0.75 + Math.random() * 0.5), controller.signal); // jitter
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  };
  run().catch(() => {});

  return {
    close() {
      closed = true;
      controller.abort();
      statusListener('closed');
    },
  };
}

/** After a 401: prompt for a key; if the user cancels, wait until a key is set some other way. */
async function waitForKey(message) {
  try {
    await promptForKey(message);
  } catch {
    if (!getKey()) await keySet();
  }
}

/** One connection, until it ends; answers why it ended. */
async function connectOnce(path, signal, onEvent, opened) {
  let res;
  try {
    res = await fetch(path, {
      headers: { accept: 'text/event-stream', ...authHeaders() }, signal, cache: 'no-store',
    });
  } catch (err) {
    return { message: err.message };
  }
  if (res.status === 401) {
    const body = await res.json().catch(() => null);
    return { unauthorized: true, message: body?.error };
  }
  if (!res.ok || !res.body) {
    const body = await res.json().catch(() => null);
    return { message: body?.error || `HTTP ${res.status}` };
  }
  opened();
  const parser = new EventStreamParser((name, data, id) => {
    let parsed;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    try {
      onEvent(name, parsed, id);
    } catch (err) {
      console.error('event handler failed', err); // a view bug must not kill the stream
    }
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { message: 'the stream ended' };
      parser.push(value);
    }
  } catch (err) {
    return { message: err.message };
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/**
 * An incremental parser of the text/event-stream format (WHATWG HTML §9.2): lines end with
 * CRLF, LF or CR; `field: value`; `data` lines are joined with LF; a blank line dispatches;
 * lines starting with `:` are comments (the server's keep-alives).
 */
export class EventStreamParser {
  constructor(dispatch) {
    this.dispatch = dispatch;
    this.buffer = '';
    this.reset();
  }

  reset() {
    this.eventName = '';
    this.data = [];
  }

  push(chunk) {
    this.buffer += chunk;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone CR at the very end may be the first half of a CRLF split across chunks.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.data.length) this.dispatch(this.eventName || 'message', this.data.join('\n'), this.lastId);
      this.reset();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'event') this.eventName = value;
    else if (name === 'data') this.data.push(value);
    else if (name === 'id') this.lastId = value;
  }
}
