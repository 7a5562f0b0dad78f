// The server's clock as seen from the browser. Countdowns ("2:31 left") and "5 s ago" compare
// server timestamps with "now"; if the operator's computer clock is off, using Date.now() would
// make them wrong by the skew. So the skew is estimated from timestamps the server stamps at the
// moment it sends them (a live reading's `receivedAt`, a freshly created command's `createdAt`).

const WINDOW = 20; // recent samples kept
const samples = []; // server clock minus browser clock, one per observation

/** Records a server timestamp that was "now" on the server when the browser received it. */
export function observeServerNow(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return;
  samples.push(t - Date.now());
  if (samples.length > WINDOW) samples.shift();
}

/**
 * Milliseconds since the epoch on the server's clock (best estimate). Each sample is low by the
 * delay with which it reached the browser, so the largest recent one is the closest.
 */
export function serverNow() {
  return samples.length ? Date.now() + Math.max(...samples) : Date.now();
}
