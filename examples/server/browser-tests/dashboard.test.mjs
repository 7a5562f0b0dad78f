// Browser tests of the praan operator dashboard: a real praan-server with simulated devices,
// driven through headless Chromium (playwright-core), with node's built-in test runner.
//
// Environment:
//   PRAAN_SERVER_BIN         the praan-server binary; the tests start it (and a second one with
//                            API keys) on free ports with a temporary SQLite database.
//   PRAAN_DASHBOARD_URL      instead: an already running server (or dev proxy) to test against.
//   PRAAN_DASHBOARD_KEYED_URL  with PRAAN_DASHBOARD_URL: one started with
//                            `--api-keys readkey:read,writekey:write` (else that test is skipped).
//   PRAAN_BROWSER_ARTIFACTS  where screenshots and logs go (default <repo>/target/browser-artifacts).
//   PRAAN_CHROMIUM           the Chromium binary (default /usr/bin/chromium).
//
// No fixed sleeps: every wait is on a condition, with a deadline and a message saying what was
// expected.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const artefacts = path.resolve(process.env.PRAAN_BROWSER_ARTIFACTS || path.join(repo, 'target/browser-artifacts'));
const READ_KEY = 'readkey';
const WRITE_KEY = 'writekey';
const READY_DEADLINE_MS = 60_000;
const WAIT_MS = 20_000; // default deadline of a UI condition

const started = []; // servers this run started, stopped in `after` (and on exit)
let browser;
let main; // { url, headers }
let keyed; // { url } or null
let deviceIds = [];
const consoleLog = [];

// ---------------------------------------------------------------------------------------------
// Servers

/** A free TCP port on 127.0.0.1 (listen on 0, read the port, close). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts praan-server with simulated devices; resolves once `/readyz` answers 200. */
async function startServer(name, extraArgs = []) {
  const bin = process.env.PRAAN_SERVER_BIN;
  const httpPort = await freePort();
  const brokerPort = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `praan-browser-${name}-`));
  const logPath = path.join(artefacts, `${name}.log`);
  const log = fs.openSync(logPath, 'w');
  const args = [
    '--http-addr', `127.0.0.1:${httpPort}`,
    '--broker-addr', `127.0.0.1:${brokerPort}`,
    '--simulate', '2', '--simulate-interval', '1s',
    '--database-url', `sqlite://${path.join(dataDir, 'praan.db')}`,
    '--ack-timeout', '5s',
    ...extraArgs,
  ];
  // The server reads PRAAN_* settings from the environment: start it from a clean slate (and
  // without this harness's own PRAAN_* variables, which it would warn about).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PRAAN_')));
  const child = spawn(bin, args, { stdio: ['ignore', log, log], env });
  fs.closeSync(log);
  const server = { name, url: `http://127.0.0.1:${httpPort}`, child, dataDir, logPath };
  started.push(server);
  let spawnError = null;
  child.on('error', (err) => { spawnError = err; });

  const deadline = Date.now() + READY_DEADLINE_MS;
  for (;;) {
    if (spawnError) throw new Error(`could not start ${bin}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it was ready; log:\n${tail(logPath)}`);
    }
    try {
      const res = await fetch(`${server.url}/readyz`);
      if (res.status === 200) return server;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`${name} not ready within ${READY_DEADLINE_MS} ms; log:\n${tail(logPath)}`);
    await delay(100); // polling interval of the readiness probe, not a wait for an outcome
  }
}

async function stopServer(server) {
  const { child } = server;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  fs.rmSync(server.dataDir, { recursive: true, force: true });
}

process.on('exit', () => {
  for (const { child } of started) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An API call (JSON), with the key if given; answers `data`. */
async function api(base, method, route, body, key) {
  const headers = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  if (body) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${route}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const payload = await res.json();
  if (!res.ok || !payload.success) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(payload)}`);
  return payload.data;
}

/** Waits until the server lists `n` online devices (the simulator registers them on its first message). */
async function onlineDevices(base, n, key) {
  const deadline = Date.now() + READY_DEADLINE_MS;
  for (;;) {
    const list = await api(base, 'GET', '/api/device/list/all', undefined, key);
    const online = list.filter((d) => d.isOnline).map((d) => d.deviceId).sort();
    if (online.length >= n) return online;
    if (Date.now() > deadline) throw new Error(`expected ${n} online devices, got ${JSON.stringify(online)}`);
    await delay(200); // polling interval
  }
}

/** Sets a device's fan speed through the API and waits for the device's ack. */
async function setFan(base, deviceId, fanSpeed, key) {
  const command = await api(base, 'POST', '/api/control/fan?wait=true', { deviceId, fanSpeed }, key);
  assert.equal(command.status, 'acknowledged', `setting ${deviceId} to ${fanSpeed} through the API: ${JSON.stringify(command)}`);
}

// ---------------------------------------------------------------------------------------------
// Browser helpers

/** A new page that records console errors, page errors and CSP violations. */
async function openPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC', locale: 'en-GB', ...options });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => {
    consoleLog.push(`[${msg.type()}] ${msg.text()}`);
    if (/Content Security Policy|Refused to/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  page.on('pageerror', (err) => {
    consoleLog.push(`[pageerror] ${err.stack || err.message}`);
    problems.push(`uncaught: ${err.message}`);
  });
  page.problems = problems;
  return page;
}

/** Fails if the page logged a CSP violation or threw. */
function assertClean(page) {
  assert.deepEqual(page.problems, [], 'the page must not violate the CSP nor throw');
}

async function screenshot(page, name) {
  await page.screenshot({ path: path.join(artefacts, `${name}.png`), fullPage: true });
}

/** Runs a test body; on failure keeps a screenshot of the page as it was. */
async function withPage(name, options, body) {
  const page = await openPage(options);
  try {
    await body(page);
    assertClean(page);
  } catch (err) {
    await page.screenshot({ path: path.join(artefacts, `FAILED-${name}.png`), fullPage: true }).catch(() => {});
    throw err;
  } finally {
    await page.context().close();
  }
}

/** Waits for `selector` to be visible. */
async function visible(page, selector, what, timeout = WAIT_MS) {
  try {
    await page.locator(selector).first().waitFor({ state: 'visible', timeout });
  } catch (err) {
    throw new Error(`${what}: \`${selector}\` not visible within ${timeout} ms (${err.message.split('\n')[0]})`);
  }
}

/** Waits until `predicate(arg)` is true in the page. */
async function until(page, what, predicate, arg, timeout = WAIT_MS) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 100 });
  } catch (err) {
    throw new Error(`${what}: not true within ${timeout} ms (${err.message.split('\n')[0]})`);
  }
}

/** Waits until the text of `selector` (trimmed) equals `text`. */
async function textIs(page, selector, text, what, timeout = WAIT_MS) {
  await until(page, `${what} (expected “${text}”, last seen “${await textOf(page, selector)}”)`,
    ({ sel, expected }) => document.querySelector(sel)?.textContent.trim() === expected,
    { sel: selector, expected: text }, timeout);
}

async function textOf(page, selector) {
  return page.locator(selector).first().textContent({ timeout: 1000 }).then((t) => t.trim()).catch(() => '(absent)');
}

const tid = (id) => `[data-testid="${id}"]`;
const deviceUrl = (base, id) => `${base}/#/device/${encodeURIComponent(id)}`;

/** Opens a device page and waits for its state to be shown. */
async function openDevice(page, base, id) {
  await page.goto(deviceUrl(base, id));
  await visible(page, `${tid('current-fan-speed')}:not(:empty)`, `the state of ${id}`);
  await until(page, 'the live stream to connect',
    () => document.querySelector('[data-testid="live-status"]')?.dataset.state === 'open', undefined);
}

/** Whether the page scrolls horizontally. */
async function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

// ---------------------------------------------------------------------------------------------
// Setup

before(async () => {
  fs.mkdirSync(artefacts, { recursive: true });
  for (const f of fs.readdirSync(artefacts)) {
    if (f.startsWith('FAILED-')) fs.rmSync(path.join(artefacts, f)); // from an earlier run
  }
  if (process.env.PRAAN_DASHBOARD_URL) {
    main = { url: process.env.PRAAN_DASHBOARD_URL.replace(/\/+$/, '') };
    keyed = process.env.PRAAN_DASHBOARD_KEYED_URL ? { url: process.env.PRAAN_DASHBOARD_KEYED_URL.replace(/\/+$/, '') } : null;
  } else if (process.env.PRAAN_SERVER_BIN) {
    [main, keyed] = await Promise.all([
      startServer('praan-server'),
      startServer('praan-server-keyed', ['--api-keys', `${READ_KEY}:read,${WRITE_KEY}:write`]),
    ]);
  } else {
    throw new Error('set PRAAN_SERVER_BIN (the praan-server binary) or PRAAN_DASHBOARD_URL');
  }
  deviceIds = await onlineDevices(main.url, 2);
  browser = await chromium.launch({
    executablePath: process.env.PRAAN_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
});

after(async () => {
  await browser?.close();
  await Promise.all(started.map(stopServer));
  fs.writeFileSync(path.join(artefacts, 'browser-console.log'), `${consoleLog.join('\n')}\n`);
});

// ---------------------------------------------------------------------------------------------
// Tests

test('the fleet list shows both simulated devices online', async () => {
  await withPage('fleet', {}, async (page) => {
    await page.goto(`${main.url}/`);
    for (const id of deviceIds.slice(0, 2)) {
      await visible(page, `${tid('device-row')}[data-device-id="${id}"] ${tid('device-status')}[data-status="online"]`, `${id} listed online`);
    }
    const status = await textOf(page, `${tid('device-row')}[data-device-id="${deviceIds[0]}"] ${tid('device-status')}`);
    assert.match(status, /Online/, 'the status is written out, not only coloured');
    // The filter narrows the list to one device.
    await page.fill(tid('fleet-filter'), deviceIds[1]);
    await until(page, 'the filter to keep one row', (id) => {
      const rows = [...document.querySelectorAll('[data-testid="device-row"]')];
      return rows.length === 1 && rows[0].dataset.deviceId === id;
    }, deviceIds[1]);
    await page.fill(tid('fleet-filter'), '');
    await until(page, 'both rows back', () => document.querySelectorAll('[data-testid="device-row"]').length >= 2, undefined);
    await screenshot(page, '01-fleet-online');
  });
});

test('a device page shows live readings arriving over SSE', async () => {
  await withPage('live-reading', {}, async (page) => {
    await openDevice(page, main.url, deviceIds[0]);
    const timeSel = `${tid('latest-reading-time')}[data-timestamp]`;
    await visible(page, timeSel, 'a first reading');
    const first = await page.getAttribute(timeSel, 'data-timestamp');
    await until(page, `a newer reading than ${first} over the stream`,
      ({ sel, before: prev }) => {
        const now = document.querySelector(sel)?.dataset.timestamp;
        return now && Date.parse(now) > Date.parse(prev);
      }, { sel: timeSel, before: first });
    const pm25 = await textOf(page, tid('reading-pm25'));
    assert.match(pm25, /^\d/, `PM2.5 shows a number (got “${pm25}”)`);
    await screenshot(page, '02-device-live-reading');
  });
});

test('fan speed 4 is acknowledged and shown as the device state', async () => {
  const id = deviceIds[0];
  await setFan(main.url, id, 1);
  await withPage('fan-speed', {}, async (page) => {
    await openDevice(page, main.url, id);
    await textIs(page, tid('current-fan-speed'), '1', 'the speed set through the API');
    await page.click(tid('fan-btn-4'));
    await visible(page, `${tid('command-status')}[data-status="acknowledged"]`, 'the command acknowledged');
    const commandId = await page.getAttribute(tid('command-status'), 'data-command-id');
    await textIs(page, tid('current-fan-speed'), '4', 'the new speed as the device state');
    await until(page, 'the speed-4 button marked current',
      () => document.querySelector('[data-testid="fan-btn-4"]')?.getAttribute('aria-pressed') === 'true', undefined);
    await visible(page, `${tid('command-row')}[data-command-id="${commandId}"][data-status="acknowledged"]`, 'the command in the history');
    await screenshot(page, '03-fan-speed-4-acknowledged');
  });
});

test('a 3 s pre-clean counts down, then restores the previous fan speed', async () => {
  const id = deviceIds[0];
  await setFan(main.url, id, 2);
  await withPage('preclean', {}, async (page) => {
    await openDevice(page, main.url, id);
    await textIs(page, tid('current-fan-speed'), '2', 'the speed before the pre-clean');
    await page.selectOption(tid('preclean-mode'), 'PRE_CLEAN');
    await page.fill(tid('preclean-minutes'), '0');
    await page.fill(tid('preclean-seconds'), '3');
    await page.click(tid('preclean-start'));
    await visible(page, tid('preclean-countdown'), 'the countdown', 5000);
    const preCleanId = await page.getAttribute(tid('preclean-active'), 'data-pre-clean-id');
    const shown = await textOf(page, tid('preclean-countdown'));
    assert.match(shown, /^0:0[0-3]$/, `a 3 s countdown (got “${shown}”)`);
    await screenshot(page, '04a-preclean-countdown');
    await visible(page, `${tid('preclean-result')}[data-pre-clean-id="${preCleanId}"][data-status="completed"] ${tid('preclean-restored')}`,
      'the pre-clean completed with its restore');
    await textIs(page, tid('preclean-restored-state'), 'On · speed 2', 'the restore target');
    await textIs(page, tid('current-fan-speed'), '2', 'the restored speed as the device state');
    await textIs(page, tid('preclean-device-now'), 'On · speed 2', 'the restored state under the result');
    assert.equal(await page.isVisible(tid('preclean-countdown')), false, 'no countdown once it ended');
    await screenshot(page, '04b-preclean-restored');
  });
});

test('a schedule created through the form shows on the weekly timeline', async () => {
  const id = deviceIds[1];
  await withPage('schedule', {}, async (page) => {
    await openDevice(page, main.url, id);
    // A day other than today (UTC), so the window is not active now and the device is untouched.
    const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
    const day = days[(new Date().getUTCDay() + 2) % 7];
    await page.check(tid(`schedule-day-${day}`));
    await page.fill(tid('schedule-start'), '13:00');
    await page.fill(tid('schedule-end'), '14:30');
    await page.selectOption(tid('schedule-speed'), '5');
    await page.fill(tid('schedule-timezone'), 'UTC');
    await page.click(tid('schedule-submit'));
    await visible(page, `${tid('schedule-saved')}[data-schedule-id]`, 'the schedule saved');
    const scheduleId = await page.getAttribute(tid('schedule-saved'), 'data-schedule-id');
    const row = `${tid('schedule-row')}[data-schedule-id="${scheduleId}"]`;
    await visible(page, row, 'the schedule in the list');
    const block = `${tid('timeline-day')}[data-day="${day}"] ${tid('timeline-block')}[data-schedule-id="${scheduleId}"]`;
    await visible(page, block, `its plan block on ${day}`);
    await visible(page, `${tid('timeline-day')}[data-day="${day}"] ${tid('timeline-window')}[data-schedule-id="${scheduleId}"]`, 'its own window');
    const bounds = await page.locator(block).first().evaluate((el) => [el.dataset.start, el.dataset.end]);
    assert.match(bounds[0], /T13:00:00(\.000)?Z$/, `the block starts at 13:00 UTC (got ${bounds[0]})`);
    assert.match(bounds[1], /T14:30:00(\.000)?Z$/, `the block ends at 14:30 UTC (got ${bounds[1]})`);
    await page.locator(block).first().scrollIntoViewIfNeeded();
    await screenshot(page, '05-schedule-on-timeline');

    // Disable: it leaves the plan and its window shows as disabled; then delete it.
    await page.click(`${row} ${tid('schedule-toggle')}`);
    await visible(page, `${row}[data-active="false"]`, 'the schedule disabled');
    await until(page, 'its plan block gone', (sel) => !document.querySelector(sel), block);
    await visible(page, `${tid('timeline-window')}[data-schedule-id="${scheduleId}"][data-enabled="false"]`, 'its window drawn as disabled');
    await page.click(`${row} ${tid('schedule-delete')}`);
    await page.click(`${row} ${tid('schedule-delete-confirm')}`);
    await until(page, 'the schedule deleted', (sel) => !document.querySelector(sel), row);
  });
});

test('phone-sized screens: no horizontal scroll, tap-sized controls', async () => {
  const phone = { viewport: { width: 375, height: 667 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
  await withPage('phone', phone, async (page) => {
    await page.goto(`${main.url}/`);
    await visible(page, `${tid('device-row')}[data-device-id="${deviceIds[0]}"]`, 'the fleet list');
    assert.equal(await horizontalOverflow(page), 0, 'the fleet list must not scroll sideways');
    await screenshot(page, '06a-phone-fleet');

    await openDevice(page, main.url, deviceIds[0]);
    await visible(page, `${tid('latest-reading-time')}[data-timestamp]`, 'a reading');
    await visible(page, `${tid('chart-pm')} svg`, 'the PM chart');
    await visible(page, tid('timeline-day'), 'the timeline');
    assert.equal(await horizontalOverflow(page), 0, 'the device page must not scroll sideways');
    const box = await page.locator(tid('fan-btn-3')).boundingBox();
    assert.ok(box && box.height >= 44 && box.width >= 40, `fan buttons are tap-sized (got ${JSON.stringify(box)})`);
    await screenshot(page, '06b-phone-device');
  });
});

test('with API keys: asks for a key, works with it, and explains a read-only key’s 403', async (t) => {
  if (!keyed) {
    t.skip('no server with API keys (set PRAAN_DASHBOARD_KEYED_URL with PRAAN_DASHBOARD_URL)');
    return;
  }
  const ids = await onlineDevices(keyed.url, 2, READ_KEY);
  await withPage('api-keys', {}, async (page) => {
    await page.goto(`${keyed.url}/`);
    await visible(page, tid('key-dialog'), 'the key prompt after a 401');
    await page.fill(tid('key-input'), READ_KEY);
    await page.click(tid('key-submit'));
    for (const id of ids) await visible(page, `${tid('device-row')}[data-device-id="${id}"]`, `${id} listed with the read key`);
    await until(page, 'the live stream to connect with the key',
      () => document.querySelector('[data-testid="live-status"]')?.dataset.state === 'open', undefined);
    await screenshot(page, '07a-keys-read-key-fleet');

    await openDevice(page, keyed.url, ids[0]);
    await page.click(tid('fan-btn-3'));
    await visible(page, tid('control-error'), 'an error for a write with a read key');
    const error = await textOf(page, tid('control-error'));
    assert.match(error, /403/, `the error names the status (got “${error}”)`);
    assert.match(error, /read/i, `the error says the key may only read (got “${error}”)`);
    await screenshot(page, '07b-keys-read-key-forbidden');

    await page.click(tid('forget-key'));
    await visible(page, tid('key-dialog'), 'the key prompt again after forgetting the key');
    await page.fill(tid('key-input'), WRITE_KEY);
    await page.click(tid('key-submit'));
    await visible(page, `${tid('current-fan-speed')}:not(:empty)`, 'the device page with the write key');
    await page.click(tid('fan-btn-3'));
    await visible(page, `${tid('command-status')}[data-status="acknowledged"]`, 'the command acknowledged with the write key');
    await textIs(page, tid('current-fan-speed'), '3', 'the new speed');
    await screenshot(page, '07c-keys-write-key-acknowledged');
  });
});
