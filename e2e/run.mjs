// Browser tests: Debian's Chromium driven by playwright-core against LoanPay started as `npm start`
// starts it (fresh DATA_DIR, free ports, the built-in simulator). Prints `N passed, N failed`.
//   npm run test:browser                      # everything, screenshots into test-results/e2e/
//   UPDATE_SCREENSHOTS=1 npm run test:browser # also refresh docs/screenshots/*.png
//   E2E_BASE_URL=http://127.0.0.1:3100 E2E_SIMULATOR_URL=… E2E_ADMIN_PASSWORD=… node e2e/run.mjs
//                                             # against a server you already run
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, generate as gen, repo, startApp as start, waitFor, workDir } from './app.mjs';

const artefacts = join(repo, 'test-results', 'e2e');
const shotsDir = join(repo, 'docs', 'screenshots');
const updateShots = process.env.UPDATE_SCREENSHOTS === '1';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? 'e2e-admin-password-1';
const APPROVER = { username: `approver${Date.now() % 100000}`, password: 'approver-password-1' };
mkdirSync(artefacts, { recursive: true });
for (const f of readdirSync(artefacts)) if (f.startsWith('FAILED-')) rmSync(join(artefacts, f));

// ---------- small helpers ----------
const results = [];
let stopped = false;
async function step(name, fn) {
  if (stopped) {
    results.push({ name, ok: false, skipped: true });
    console.log(`  - ${name} (skipped after an earlier failure)`);
    return;
  }
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`  ✓ ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(
      `  ✗ ${name}\n      ${String(err?.stack ?? err)
        .split('\n')
        .slice(0, 6)
        .join('\n      ')}`,
    );
    for (const [label, p] of Object.entries(pages)) {
      await p?.screenshot({ path: join(artefacts, `FAILED-${slug(name)}-${label}.png`) }).catch(() => {});
    }
    stopped = true;
  }
}
const slug = (s) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 60);
function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}
function assertEq(actual, expected, msg) {
  if (actual !== expected)
    throw new Error(`${msg}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}
const dollars = (cents) => {
  const abs = Math.abs(cents);
  const whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${cents < 0 ? '-' : ''}$${whole}.${String(abs % 100).padStart(2, '0')}`;
};
/** CSV money `1187.50` → 118750 cents, without floats. */
const toCents = (s) => {
  const m = /^(-?)(\d+)\.(\d{2})$/.exec(s);
  if (!m) throw new Error(`not a CSV amount: ${s}`);
  return (m[1] ? -1 : 1) * (Number(m[2]) * 100 + Number(m[3]));
};
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') q = false;
      else cell += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell || row.length) {
    row.push(cell);
    rows.push(row);
  }
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}
const generate = (args, name) => gen(work, args, name);
async function shot(page, name) {
  await page.waitForTimeout(400); // let dialogs and drawers finish their opening transition
  const file = join(artefacts, `${name}.png`);
  await page.screenshot({ path: file });
  if (updateShots) {
    mkdirSync(shotsDir, { recursive: true });
    copyFileSync(file, join(shotsDir, `${name}.png`));
  }
}

// ---------- the app, as npm start runs it ----------
const work = workDir();
let stopServer = async () => {};
let base = process.env.E2E_BASE_URL;
let simulatorUrl = process.env.E2E_SIMULATOR_URL;
const pages = {};

async function startApp() {
  const app = await start({ work, logFile: join(artefacts, 'server.log'), adminPassword: ADMIN_PASSWORD });
  base = app.base;
  simulatorUrl = app.simulatorUrl;
  stopServer = app.stop;
}
async function simulatorFaults(faults) {
  const res = await fetch(`${simulatorUrl}/simulator/faults`, {
    method: faults ? 'PUT' : 'DELETE',
    headers: faults ? { 'content-type': 'application/json' } : {},
    body: faults ? JSON.stringify(faults) : undefined,
  });
  assert(res.ok, `simulator faults answered ${res.status}`);
}

// ---------- UI actions ----------
async function login(page, username, password) {
  await page.goto(`${base}/batches`);
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('current-user').filter({ hasText: username }).waitFor();
}
async function uploadFile(page, path) {
  await page.goto(`${base}/upload`);
  await page.locator('input[type=file]').setInputFiles(path);
}
async function api(page, path) {
  const res = await page.request.get(`${base}${path}`);
  assert(res.ok(), `GET ${path} → ${res.status()}`);
  return res.json();
}
async function download(page, trigger) {
  const [dl] = await Promise.all([page.waitForEvent('download'), trigger()]);
  const file = join(work, `${Date.now()}-${dl.suggestedFilename()}`);
  await dl.saveAs(file);
  return { name: dl.suggestedFilename(), text: readFileSync(file, 'utf8') };
}
async function approveAs(page, batchId, expectCount, expectTotal) {
  await page.goto(`${base}/batches/${batchId}`);
  const approve = page.getByRole('button', { name: 'Approve…' });
  await waitFor('Approve to be enabled', () => approve.isEnabled(), 30_000);
  await approve.click();
  const dialog = page.getByRole('dialog');
  await dialog.getByTestId('confirm-count').getByText(expectCount).waitFor();
  await dialog.getByTestId('confirm-total').getByText(expectTotal).waitFor();
  return dialog;
}

// ---------- the scenario ----------
async function main() {
  console.log('LoanPay browser tests');
  if (!base) {
    await step('npm start serves the API and the UI on a fresh database', async () => {
      await startApp();
      const html = await (await fetch(`${base}/`)).text();
      assert(html.includes('<div id="root">'), 'index.html at /');
    });
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
  const ctxOpts = { viewport: { width: 1440, height: 900 }, acceptDownloads: true, deviceScaleFactor: 1 };
  const adminCtx = await browser.newContext(ctxOpts);
  const approverCtx = await browser.newContext(ctxOpts);
  const admin = await adminCtx.newPage();
  const approver = await approverCtx.newPage();
  for (const p of [admin, approver]) p.setDefaultTimeout(15_000);
  pages.admin = admin;
  pages.approver = approver;
  const consoleErrors = [];
  for (const p of [admin, approver]) p.on('pageerror', (e) => consoleErrors.push(String(e)));

  const good = generate(
    [
      '--rows',
      '300',
      '--employees',
      '60',
      '--sources',
      '5',
      '--branches',
      '6',
      '--seed',
      '5',
      '--amount-range',
      '5000,90000',
    ],
    'payroll-2026-11-28.xml',
  );
  const bad = generate(
    [
      '--rows',
      '40',
      '--employees',
      '20',
      '--sources',
      '2',
      '--branches',
      '2',
      '--seed',
      '11',
      '--bad',
      'amountText=3,badRouting=2,impossibleDate=1',
    ],
    'payroll-with-errors.xml',
  );
  let batch = null;

  await step('log in as admin; the header shows user and role', async () => {
    await admin.goto(`${base}/`);
    await admin.getByRole('button', { name: 'Log in' }).waitFor();
    await shot(admin, 'login');
    await login(admin, 'admin', ADMIN_PASSWORD);
    assertEq(await admin.getByTestId('current-role').textContent(), 'admin', 'role badge');
  });

  await step('Users: admin creates an approver', async () => {
    await admin.goto(`${base}/users`);
    await admin.locator('input[name="new-username"]').fill(APPROVER.username);
    await admin.locator('input[name="new-password"]').fill(APPROVER.password);
    await admin.getByRole('textbox', { name: 'Role', exact: true }).click();
    await admin.getByRole('option', { name: 'approver' }).click();
    await admin.getByRole('button', { name: 'Create user' }).click();
    await admin.getByTestId(`user-${APPROVER.username}`).waitFor();
    await shot(admin, 'users');
  });

  await step('Upload: a bad file shows every error, filterable and downloadable', async () => {
    await uploadFile(admin, bad.path);
    const box = admin.getByTestId('upload-errors');
    await box.waitFor({ timeout: 30_000 });
    const title = await box.getByRole('alert').innerText();
    assert(/was not accepted: \d+ errors/.test(title), `error title: ${title}`);
    const total = Number(/: (\d+) errors/.exec(title)[1]);
    assert(total >= 6, `at least the 6 planted errors, got ${total}`);
    await box.getByLabel('Filter errors').fill('Amount');
    const shown = await box.getByText(/errors shown/).innerText();
    const [n] = shown.match(/\d+/);
    assert(Number(n) > 0 && Number(n) < total, `filter narrows the list: ${shown}`);
    await shot(admin, 'upload-errors');
    const csv = await download(admin, () => box.getByRole('button', { name: /Download .* as CSV/ }).click());
    const rows = parseCsv(csv.text);
    assertEq(rows.length, Number(n), 'downloaded error rows = filtered rows');
    assert(
      rows.every((r) => /Amount/.test(`${r.field} ${r.code} ${r.message}`)),
      'downloaded rows match the filter',
    );
    await box.getByLabel('Filter errors').fill('');
  });

  await step('Upload: a good file shows the draft review with the right totals', async () => {
    await uploadFile(admin, good.path);
    const review = admin.getByTestId('draft-review');
    await review.waitFor({ timeout: 60_000 });
    assertEq(await review.getByTestId('review-rows').locator('p').nth(1).innerText(), '300', 'rows card');
    assertEq(
      await review.getByTestId('review-total').locator('p').nth(1).innerText(),
      dollars(good.summary.totalCents),
      'total card',
    );
    await waitFor(
      'pre-flight to finish',
      async () => !(await review.getByTestId('review-unpayable').innerText()).includes('Checking'),
      60_000,
    );
    const reason = await review.getByTestId('approve-reason').innerText();
    assert(reason.includes('You uploaded this batch'), `approve blocked for the uploader: ${reason}`);
    assert(
      await review.getByRole('button', { name: 'Approve…' }).isDisabled(),
      'Approve disabled for the uploader',
    );
    // By source: as many lines as sources, summing to the file total.
    await review.getByRole('tab', { name: /By source/ }).click();
    const sourceRows = review.getByTestId('by-source').getByRole('row');
    await waitFor(
      'by-source rows',
      async () => (await sourceRows.count()) === 1 + good.summary.sourceIds.length,
      10_000,
    );
    await admin.mouse.move(0, 0);
    await shot(admin, 'upload-review');
    batch = (await api(admin, '/api/batches')).items.find((b) => b.status === 'awaiting_approval');
    assert(batch, 'draft batch listed');
    assertEq(batch.totalCents, good.summary.totalCents, 'API total');
  });

  let detail = null;
  await step('Approve as a second user: the confirmation shows count and total', async () => {
    await login(approver, APPROVER.username, APPROVER.password);
    detail = await api(approver, `/api/batches/${batch.id}`);
    const count = 300 - detail.summary.unpayable.count;
    const total = detail.totalCents - detail.summary.unpayable.totalCents;
    const dialog = await approveAs(approver, batch.id, String(count), dollars(total));
    assert((await dialog.innerText()).includes('uploaded by admin'), 'dialog names the uploader');
    await shot(approver, 'approve-dialog');
    await dialog.getByRole('button', { name: /Approve and send/ }).click();
    await approver.getByText('Batch approved').waitFor();
  });

  await step('Batches: the progress bar moves live until the batch completes', async () => {
    await approver.goto(`${base}/batches`);
    const row = approver.getByTestId(`batch-row-${batch.id}`);
    const progress = row.getByTestId('batch-progress-text');
    const seen = new Set();
    let midShot = false;
    await waitFor(
      'the batch to finish',
      async () => {
        const t = await progress.innerText();
        seen.add(t.split(' · ')[0]);
        if (!midShot && /^[1-9]\d* of 300 final/.test(t) && !t.startsWith('300')) {
          midShot = true;
          await shot(approver, 'batches-running');
        }
        return /^300 of 300 final/.test(t);
      },
      240_000,
      250,
    );
    assert(
      seen.size >= 3,
      `progress moved through several values without a reload: ${[...seen].join(' | ')}`,
    );
    await waitFor('final status badge', async () => /completed/i.test(await row.innerText()), 30_000);
    if (!midShot) await shot(approver, 'batches-running');
    detail = await api(approver, `/api/batches/${batch.id}`);
    await shot(approver, 'batches');
  });

  await step('CSV reports download from the UI and their totals match the batch', async () => {
    await approver.goto(`${base}/batches/${batch.id}`);
    await approver.getByTestId('card-total').waitFor();
    const get = async (kind) =>
      download(approver, async () => {
        await approver.getByRole('button', { name: /Download CSV reports/ }).click();
        await approver.getByTestId(`csv-${kind}`).click();
      });
    const payments = parseCsv((await get('payments')).text);
    assertEq(payments.length, 300, 'payments.csv rows');
    assertEq(
      payments.reduce((s, r) => s + toCents(r.amount), 0),
      good.summary.totalCents,
      'payments.csv total',
    );
    const paidRows = payments.filter((r) => r.status === 'paid');
    assertEq(
      paidRows.reduce((s, r) => s + toCents(r.amount), 0),
      detail.amountsCents.paid,
      'payments.csv paid total',
    );
    const sources = parseCsv((await get('sources')).text);
    assertEq(sources.length, good.summary.sourceIds.length, 'sources.csv lines');
    assertEq(
      sources.reduce((s, r) => s + toCents(r.total_amount), 0),
      good.summary.totalCents,
      'sources.csv total',
    );
    for (const r of sources)
      assertEq(
        toCents(r.total_amount),
        good.summary.totalsBySource[r.source_id],
        `sources.csv ${r.source_id}`,
      );
    assertEq(
      sources.reduce((s, r) => s + toCents(r.paid_amount), 0),
      detail.amountsCents.paid,
      'sources.csv paid',
    );
    const branches = parseCsv((await get('branches')).text);
    assertEq(branches.length, good.summary.branchIds.length, 'branches.csv lines');
    for (const r of branches)
      assertEq(
        toCents(r.total_amount),
        good.summary.totalsByBranch[r.branch_id],
        `branches.csv ${r.branch_id}`,
      );
  });

  await step('Batch detail: summary cards, chart, payments list and a payment drawer', async () => {
    await approver.goto(`${base}/batches/${batch.id}`);
    assertEq(
      await approver.getByTestId('card-paid').locator('p').nth(1).innerText(),
      dollars(detail.amountsCents.paid),
      'paid card',
    );
    await approver.locator('.recharts-surface').first().waitFor({ timeout: 15_000 });
    const table = approver.getByTestId('payments-table');
    await table.getByRole('row').nth(1).waitFor();
    await approver.getByTestId('payments-count').getByText('Showing 300 of 300 payments').waitFor();
    await shot(approver, 'batch-detail');
    // Filter server-side by group, then open one payment with the keyboard.
    await approver.getByRole('textbox', { name: 'Group', exact: true }).click();
    await approver.getByRole('option', { name: 'Paid' }).click();
    await approver.getByTestId('payments-count').getByText(`of ${detail.counts.paid} payments`).waitFor();
    await table.getByRole('row').nth(1).focus();
    await approver.keyboard.press('Enter');
    const drawer = approver.getByTestId('payment-drawer');
    await drawer.waitFor();
    await drawer.getByText('Ledger entries').waitFor();
    assert(
      (await drawer.getByRole('table', { name: 'Ledger entries' }).getByRole('row').count()) >= 3,
      'ledger rows',
    );
    await shot(approver, 'payment-drawer');
    await approver.keyboard.press('Escape');
  });

  await step("Employees: search and open an employee's history", async () => {
    const someone = (await api(approver, `/api/batches/${batch.id}/payments?limit=1`)).items[0];
    await approver.goto(`${base}/employees`);
    await approver.getByLabel('Search employees').fill(someone.employeeName.split(' ').pop());
    const list = approver.getByTestId('employees-table');
    await waitFor('search results', async () => (await list.getByRole('row').count()) > 1, 15_000);
    await list.getByRole('row').filter({ hasText: someone.employeeName }).first().click();
    const profile = approver.getByTestId('employee-profile');
    await profile.waitFor();
    await profile.getByTestId('payment-history').getByRole('row').nth(1).waitFor();
    assert((await profile.innerText()).includes('••••'), 'loan accounts masked');
    await shot(approver, 'employees');
  });

  let failedBatch = null;
  await step('Needs review: a failed payment is retried after confirmation', async () => {
    await simulatorFaults({ failPaymentRate: 1 });
    const small = generate(
      [
        '--rows',
        '3',
        '--employees',
        '3',
        '--sources',
        '1',
        '--branches',
        '1',
        '--seed',
        '21',
        '--amount-range',
        '5000,9000',
        '--no-unpayable-plaid',
      ],
      'small-fail.xml',
    );
    await uploadFile(admin, small.path);
    await admin.getByTestId('draft-review').waitFor({ timeout: 30_000 });
    failedBatch = (await api(admin, '/api/batches')).items.find((b) => b.status === 'awaiting_approval');
    const dialog = await approveAs(approver, failedBatch.id, '3', dollars(small.summary.totalCents));
    await dialog.getByRole('button', { name: /Approve and send/ }).click();
    await approver.getByText('Batch approved').waitFor();
    await waitFor(
      'payments to fail',
      async () => (await api(admin, `/api/batches/${failedBatch.id}`)).counts.failed === 3,
      90_000,
    );
    await simulatorFaults(null);
    await admin.goto(`${base}/review`);
    await admin.getByText('Failed (can retry)').click();
    const table = admin.getByTestId('review-table');
    await table.getByRole('button', { name: 'Retry' }).first().waitFor();
    await shot(admin, 'needs-review');
    const target = (await api(admin, '/api/payments?status=failed&limit=1000')).items[0];
    const row = table.getByRole('row').filter({ hasText: target.employeeName }).first();
    await row.getByRole('button', { name: 'Retry' }).click();
    const dialog2 = admin.getByRole('dialog');
    assert(
      (await dialog2.textContent()).includes(dollars(target.amountCents)),
      'confirmation names the amount',
    );
    await dialog2.getByRole('button', { name: 'Retry payment' }).click();
    await admin.getByText(': done').first().waitFor();
    // The retry is the person's decision, recorded in the payment's history; the worker takes it
    // from there (settles the old attempt at Method, then sends a new one).
    const after = await api(admin, `/api/payments/${target.id}`);
    assert(after.status !== 'failed', `payment left failed (now ${after.status})`);
    assert(
      after.history.some(
        (h) => h.fromStatus === 'failed' && h.toStatus === 'retry_scheduled' && h.cause === 'person',
      ),
      'history records the retry by a person',
    );
    await waitFor(
      'the retried payment to leave the Failed list',
      async () => !(await table.textContent()).includes(target.employeeName),
      15_000,
    );
  });

  await step('Needs review: a reversal Method requires is approved after confirmation', async () => {
    await simulatorFaults({ reversalRate: 1 });
    const small = generate(
      [
        '--rows',
        '2',
        '--employees',
        '2',
        '--sources',
        '1',
        '--branches',
        '1',
        '--seed',
        '31',
        '--amount-range',
        '5000,9000',
        '--no-unpayable-plaid',
      ],
      'small-reversal.xml',
    );
    await uploadFile(admin, small.path);
    await admin.getByTestId('draft-review').waitFor({ timeout: 30_000 });
    const b = (await api(admin, '/api/batches')).items.find((x) => x.status === 'awaiting_approval');
    const dialog = await approveAs(approver, b.id, '2', dollars(small.summary.totalCents));
    await dialog.getByRole('button', { name: /Approve and send/ }).click();
    await approver.getByText('Batch approved').waitFor();
    await approver.goto(`${base}/review`);
    const table = approver.getByTestId('review-table');
    await waitFor(
      'a reversal to wait for a person',
      async () => (await table.getByRole('button', { name: 'Approve reversal' }).count()) > 0,
      120_000,
    );
    await shot(approver, 'needs-review');
    await table.getByRole('button', { name: 'Approve reversal' }).first().click();
    await approver.getByRole('dialog').getByRole('button', { name: 'Approve reversal' }).click();
    await approver
      .getByText(/: done/)
      .first()
      .waitFor();
    await simulatorFaults(null);
  });

  await step('Books: ledger balanced, audit log lists the approvals', async () => {
    await admin.goto(`${base}/books`);
    await admin.getByTestId('ledger-check').getByText('Balanced').waitFor();
    await shot(admin, 'books');
    await admin.getByRole('tab', { name: 'Audit log' }).click();
    await admin.getByTestId('audit-table').getByText('batch.approve').first().waitFor();
  });

  await step('Log out returns to the login form', async () => {
    await admin.getByRole('button', { name: 'Log out' }).click();
    await admin.getByRole('button', { name: 'Log in' }).waitFor();
  });

  await step('no uncaught errors in the pages', async () => {
    assertEq(consoleErrors.length, 0, `page errors: ${consoleErrors.join(' | ')}`);
  });

  await browser.close();
}

let exitCode = 1;
try {
  await main();
} catch (err) {
  console.log(`  ✗ setup: ${err?.stack ?? err}`);
  results.push({ name: 'setup', ok: false });
} finally {
  await stopServer();
  if (!process.env.KEEP_E2E_DATA) rmSync(work, { recursive: true, force: true });
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`${passed} passed, ${failed} failed`);
  exitCode = failed === 0 && passed > 0 ? 0 : 1;
}
process.exit(exitCode);
