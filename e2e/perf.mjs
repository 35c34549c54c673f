// Browser benchmark of the batch detail page with a large batch, and the built bundle's size.
//   node e2e/perf.mjs [--rows 50000]
// Measures, in Chromium: time from navigation to the first payment rows (draft and approved
// batch), and frame times while scrolling the virtualised list (which loads 1,000-row pages).
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, generate, repo, startApp, waitFor, workDir } from './app.mjs';

const rowsArg = process.argv.indexOf('--rows');
const ROWS = rowsArg > 0 ? Number(process.argv[rowsArg + 1]) : 50_000;
const ADMIN_PASSWORD = 'perf-admin-password-1';

function bundleReport() {
  const dir = join(repo, 'dist', 'web');
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  // What the first visit downloads: the entry and what index.html preloads. Pages load on demand.
  const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  const all = readdirSync(join(dir, 'assets')).map((f) => `assets/${f}`);
  const size = (f) => {
    const buf = readFileSync(join(dir, f));
    return { raw: statSync(join(dir, f)).size, gzip: gzipSync(buf, { level: 9 }).length };
  };
  const sum = (files) =>
    files.map(size).reduce((a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip }), { raw: 0, gzip: 0 });
  const largest = all
    .map((f) => ({ file: f, ...size(f) }))
    .sort((a, b) => b.raw - a.raw)
    .slice(0, 6);
  return { initialFiles: initial, initial: sum(initial), total: sum(all), largest };
}

async function login(base, username, password) {
  const r = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!r.ok) throw new Error(`login ${username}: ${r.status}`);
  return (await r.json()).token;
}
async function call(base, token, method, path, body, headers = {}) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined || typeof body === 'string' ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const json = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

async function measurePage(page, base, batchId, label) {
  const t0 = Date.now();
  await page.goto(`${base}/batches/${batchId}`);
  await page.getByTestId('payments-table').getByRole('row').nth(1).waitFor({ timeout: 60_000 });
  const firstRowsMs = Date.now() - t0;
  // Scroll the list continuously for ~6 s (a fast flick every frame) and record every frame.
  const frames = await page.evaluate(async () => {
    const el = document.querySelector('[data-testid="payments-table"] .vt-scroll');
    const times = [];
    let last = performance.now();
    const end = last + 6000;
    await new Promise((resolve) => {
      const tick = (now) => {
        times.push(now - last);
        last = now;
        el.scrollTop += 400;
        if (now < end) requestAnimationFrame(tick);
        else resolve();
      };
      requestAnimationFrame(tick);
    });
    return { times, scrolledTo: el.scrollTop, rowsInDom: el.querySelectorAll('tbody tr').length };
  });
  const loaded = await page.getByTestId('payments-count').innerText();
  const t = frames.times.slice(1).sort((a, b) => a - b);
  const pct = (p) => t[Math.min(t.length - 1, Math.floor((p / 100) * t.length))];
  return {
    label,
    firstRowsMs,
    frames: t.length,
    fps: Math.round((t.length / t.reduce((a, b) => a + b, 0)) * 1000),
    p50FrameMs: Number(pct(50).toFixed(1)),
    p95FrameMs: Number(pct(95).toFixed(1)),
    maxFrameMs: Number(t[t.length - 1].toFixed(1)),
    framesOver50ms: t.filter((x) => x > 50).length,
    rowsInDom: frames.rowsInDom,
    loadedAfterScroll: loaded,
  };
}

const work = workDir();
let app;
try {
  console.log(`bundle: ${JSON.stringify(bundleReport(), null, 2)}`);
  app = await startApp({
    work,
    logFile: join(work, 'server.log'),
    adminPassword: ADMIN_PASSWORD,
    // Method's real limit, so the approved batch is mostly queued while we measure.
    env: { METHOD_PAYMENTS_PER_MINUTE: '114', SIMULATOR_PAYMENTS_PER_MINUTE: '120' },
  });
  const base = app.base;
  const t0 = Date.now();
  const file = generate(
    work,
    [
      '--rows',
      String(ROWS),
      '--employees',
      String(Math.ceil(ROWS / 3)),
      '--sources',
      '20',
      '--branches',
      '300',
      '--seed',
      '42',
      '--amount-range',
      '5000,90000',
    ],
    'big.xml',
  );
  console.log(`generated ${ROWS} rows in ${Date.now() - t0} ms`);
  const admin = await login(base, 'admin', ADMIN_PASSWORD);
  await call(base, admin, 'POST', '/api/users', {
    username: 'perfapprover',
    password: 'perf-approver-pass',
    role: 'approver',
  });
  const approver = await login(base, 'perfapprover', 'perf-approver-pass');
  const t1 = Date.now();
  const { batch } = await call(base, admin, 'POST', '/api/batches', readFileSync(file.path, 'utf8'), {
    'content-type': 'application/xml',
    'x-file-name': 'big.xml',
  });
  console.log(`uploaded in ${Date.now() - t1} ms`);
  await waitFor(
    'pre-flight',
    async () =>
      (await call(base, admin, 'GET', `/api/batches/${batch.id}`)).summary.preflight.status !== 'pending',
    300_000,
    1000,
  );

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(`${base}/`);
  await page.locator('input[name="username"]').fill('admin');
  await page.locator('input[name="password"]').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('current-user').waitFor();
  const results = [];
  results.push(await measurePage(page, base, batch.id, `draft, ${ROWS} rows`));
  console.log(JSON.stringify(results[0]));
  const t2 = Date.now();
  await call(base, approver, 'POST', `/api/batches/${batch.id}/approve`);
  console.log(`approved (booked ${ROWS} payments) in ${Date.now() - t2} ms`);
  results.push(await measurePage(page, base, batch.id, `approved, ${ROWS} payments`));
  await browser.close();
  console.table(results);
  console.log(JSON.stringify(results));
} finally {
  await app?.stop();
  rmSync(work, { recursive: true, force: true });
}
