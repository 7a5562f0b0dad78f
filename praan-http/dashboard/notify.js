// Page-level notices (errors, confirmations) in the live region under the top bar.

import { h } from './dom.js';
import { ApiError } from './api.js';

const MAX_NOTICES = 4;

/** Shows a notice; errors stay until dismissed, others fade after a few seconds. */
export function notify(message, kind = 'error') {
  const region = document.getElementById('notices');
  const close = h('button', { type: 'button', class: 'notice-close', 'aria-label': 'Dismiss', text: '×' });
  const notice = h('div', {
    class: ['notice', `notice-${kind}`], role: kind === 'error' ? 'alert' : 'status',
    dataset: { testid: 'notice', kind },
  }, h('span', { class: 'notice-text', text: message }), close);
  close.addEventListener('click', () => notice.remove());
  region.append(notice);
  while (region.children.length > MAX_NOTICES) region.firstElementChild.remove();
  if (kind !== 'error') setTimeout(() => notice.remove(), 6000);
  return notice;
}

/** The message of any error, API or not. */
export function errorText(err) {
  if (err instanceof ApiError) return err.describe();
  return err && err.message ? err.message : String(err);
}

/** Shows an error as a notice, prefixed with what was being done. Abort errors are ignored. */
export function notifyError(context, err) {
  if (err && err.name === 'AbortError') return;
  notify(`${context}: ${errorText(err)}`, 'error');
}
