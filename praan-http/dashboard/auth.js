// The API key: kept in sessionStorage (this tab only, gone when it closes), asked for with a
// dialog when the API answers 401. Concurrent requests that hit 401 share one prompt.

const STORAGE_KEY = 'praan.apiKey';
const listeners = new Set();
let pending = null; // the open prompt: { promise, resolve, reject, refused }
// The user cancelled the prompt: don't pop it up again on every request (the fleet polls); the
// top bar's "Enter API key" button asks again.
let declined = false;

/** The stored key, or null. */
export function getKey() {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: the key then lives only as long as the prompt's answer
  }
}

function setKey(key) {
  try {
    if (key) sessionStorage.setItem(STORAGE_KEY, key);
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch { /* storage disabled */ }
  if (key) declined = false;
  for (const listener of listeners) listener(key);
}

/** Forgets the stored key. */
export function forgetKey() {
  setKey(null);
}

/** Calls `listener(keyOrNull)` whenever the key changes; returns an unsubscribe function. */
export function onKeyChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Resolves once a key is set. */
export function keySet() {
  return new Promise((resolve) => {
    const off = onKeyChange((key) => {
      if (!key) return;
      off();
      resolve();
    });
  });
}

/**
 * Asks the user for a key; resolves with it once entered (and stored), rejects if the user
 * cancels (or cancelled before, unless `ask` is true: the user asked for the dialog). `reason`
 * is the server's message (e.g. "unknown API key").
 */
export function promptForKey(reason, { ask = false } = {}) {
  if (pending) return pending.promise;
  if (declined && !ask) return Promise.reject(new Error('the user declined to enter a key'));
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  pending = { promise, resolve, reject, refused: Boolean(getKey()) };
  openDialog(reason);
  return promise;
}

function openDialog(reason) {
  const dialog = document.getElementById('key-dialog');
  const input = document.getElementById('key-input');
  const error = document.getElementById('key-dialog-error');
  const hadKey = Boolean(getKey());
  document.getElementById('key-dialog-reason').textContent = hadKey
    ? `The server refused the key (${reason || 'unauthorized'}). Enter another one.`
    : 'This server needs an API key to show its devices.';
  error.hidden = true;
  input.value = '';
  if (!dialog.open) dialog.showModal();
  input.focus();
}

function settle(ok, value) {
  const dialog = document.getElementById('key-dialog');
  if (dialog.open) dialog.close();
  const current = pending;
  pending = null;
  if (!current) return;
  if (ok) current.resolve(value);
  else {
    // A key the server refused is of no use: drop it rather than send it again.
    if (current.refused) forgetKey();
    declined = true;
    current.reject(value);
    // Nothing works without a key: the top bar offers to enter one later.
    document.dispatchEvent(new CustomEvent('praan:key-declined'));
  }
}

/** Wires the dialog's form (once, at start). */
export function initKeyDialog() {
  const dialog = document.getElementById('key-dialog');
  const form = document.getElementById('key-form');
  const input = document.getElementById('key-input');
  const error = document.getElementById('key-dialog-error');
  form.addEventListener('submit', (event) => {
    event.preventDefault(); // the CSP has form-action 'none': never submit for real
    const key = input.value.trim();
    if (!key) {
      error.textContent = 'Enter a key.';
      error.hidden = false;
      input.focus();
      return;
    }
    setKey(key);
    settle(true, key);
  });
  document.getElementById('key-cancel').addEventListener('click', () => settle(false, new Error('cancelled')));
  // Escape closes a modal dialog: treat it as cancel.
  dialog.addEventListener('cancel', (event) => {
    event.preventDefault();
    settle(false, new Error('cancelled'));
  });
}
