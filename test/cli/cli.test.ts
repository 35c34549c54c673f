// The CLI against a real app listening on an ephemeral port: login, upload, approve, status with
// its progress bar until the batch completes, reports to a file or stdout, reconcile; usage errors
// exit 2, refusals exit 1 with the API's message; the npm entry point itself.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToString } from '../../bench/generator.js';
import { type CliIo, progressLine, runCli } from '../../src/cli/main.js';
import { freePort } from '../../src/server/embedded-pg.js';
import { refreshBatchStatuses } from '../../src/server/execution/sweeper.js';
import { FAILED, move, PAID } from '../reports/support.js';
import { createTestApp, PASSWORD, type TestApp } from '../support/app.js';
import { waitFor } from '../support/method.js';

let t: TestApp;
let url: string;
let home: string;
let xmlFile: string;
let gen: ReturnType<typeof generateToString>['result'];

beforeAll(async () => {
  t = await createTestApp({ REQUIRE_SECOND_APPROVER: 'true' });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const addr = t.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  url = `http://127.0.0.1:${addr.port}`;
  home = mkdtempSync(path.join(os.tmpdir(), 'loanpay-cli-'));
  const g = generateToString({ rows: 24, employees: 6, sources: 2, branches: 3, seed: 515 });
  gen = g.result;
  xmlFile = path.join(home, 'payroll, "march".xml');
  writeFileSync(xmlFile, g.xml);
});
afterAll(async () => {
  await t.app.close();
});

async function cli(
  args: string[],
  env: Record<string, string | undefined> = {},
  onStderr: (s: string) => void = () => {},
) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s) => (stdout += typeof s === 'string' ? s : Buffer.from(s).toString('utf8')) },
    stderr: {
      write: (s) => {
        stderr += s;
        onStderr(s);
      },
    },
    env: { LOANPAY_URL: url, HOME: home, XDG_CONFIG_HOME: path.join(home, 'config'), ...env },
    tty: false,
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}
const as = (role: keyof TestApp['tokens']) => ({ LOANPAY_TOKEN: t.tokens[role] });

describe('arguments', () => {
  it.each([
    [[]],
    [['frobnicate']],
    [['upload']],
    [['status', 'not-a-uuid']],
    [['report', '00000000-0000-4000-8000-000000000000', 'ledger']],
    [['status', '00000000-0000-4000-8000-000000000000', '--bogus']],
    [['approve', 'a', 'b']],
  ])('%j → usage and exit 2', async (args) => {
    const r = await cli(args, as('auditor'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: npm run cli -- <command>');
  });

  it('without a token: a clear message and exit 1', async () => {
    const r = await cli(['status', '00000000-0000-4000-8000-000000000000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: not logged in: set LOANPAY_TOKEN, or run "login <username> [--save]"\n');
  });

  it('an unreachable server: exit 1 naming it', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await cli(['status', '00000000-0000-4000-8000-000000000000'], {
      ...as('auditor'),
      LOANPAY_URL: closed,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: cannot reach ${closed}: ECONNREFUSED\n`);
  });
});

describe('a batch from upload to report', () => {
  let batchId: string;

  it('login prints a token and saves nothing unless asked; --save keeps it private', async () => {
    const r = await cli(['login', 'operator'], { LOANPAY_PASSWORD: PASSWORD });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^export LOANPAY_TOKEN=\S+\n$/);
    expect(() => statSync(path.join(home, 'config', 'loanpay', 'token'))).toThrow();
    const wrong = await cli(['login', 'operator'], { LOANPAY_PASSWORD: 'nope' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^error: .*\(INVALID_CREDENTIALS\)\n$/);
    const saved = await cli(['login', 'operator', '--save'], { LOANPAY_PASSWORD: PASSWORD });
    expect(saved.code).toBe(0);
    const file = path.join(home, 'config', 'loanpay', 'token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(saved.stdout).toBe('');
  });

  it('upload (with the saved token) prints the batch id; the same file again is refused naming it', async () => {
    const r = await cli(['upload', xmlFile]);
    expect(r.code, r.stderr).toBe(0);
    batchId = r.stdout.trim();
    expect(batchId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.stderr).toContain(`batch ${batchId}: awaiting_approval, ${gen.rowCount} rows`);
    const again = await cli(['upload', xmlFile], as('operator'));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('(DUPLICATE_FILE)');
    expect(again.stderr).toContain(`existing batch: ${batchId}`);
    const bad = path.join(home, 'bad.xml');
    writeFileSync(
      bad,
      readFileSync(xmlFile, 'utf8').replace(/<Amount>[^<]+<\/Amount>/, '<Amount>abc</Amount>'),
    );
    const refused = await cli(['upload', bad], as('operator'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/\(VALIDATION_FAILED\)\n {2}row 1 Amount: /);
    expect((await cli(['upload', path.join(home, 'missing.xml')], as('operator'))).code).toBe(2);
  });

  it('approve: the uploader is refused with the API message; an approver approves', async () => {
    const operator = await cli(['approve', batchId], as('operator'));
    expect(operator.code).toBe(1);
    expect(operator.stderr).toMatch(/^error: Your role \(operator\) cannot do this.*\(FORBIDDEN\)\n$/);
    const early = await cli(['approve', batchId], as('approver'));
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('(PREFLIGHT_INCOMPLETE)');
    await t.db.pool.query(
      `INSERT INTO plaid_merchants (plaid_id, payable, merchant_id)
       SELECT DISTINCT plaid_id, true, 'mch_' || plaid_id FROM batch_lines WHERE batch_id = $1 ON CONFLICT DO NOTHING`,
      [batchId],
    );
    await t.db.pool.query("UPDATE batches SET preflight_status = 'complete' WHERE id = $1", [batchId]);
    const ok = await cli(['approve', batchId], as('approver'));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(`approved ${batchId}: executing\n`);
  });

  it('status --watch draws progress until every payment is final', async () => {
    const { rows } = await t.db.pool.query(
      'SELECT id FROM payments WHERE batch_id = $1 ORDER BY row_number',
      [batchId],
    );
    let drawnLines = 0;
    const linesDrawn = (n: number) => waitFor(`${n} progress lines`, async () => drawnLines >= n, 10_000);
    const watching = cli(['status', batchId, '--watch', '--interval', '50'], as('auditor'), () => {
      drawnLines++;
    });
    // Under load the CLI can take longer to draw (and to subscribe) than the moves take: start once
    // its first line is out, and go on past the first move only once it has drawn that move.
    await linesDrawn(1);
    // Payments finish one by one while the CLI watches.
    for (const [i, r] of rows.entries()) {
      await move(t, r.id, i === 0 ? FAILED : PAID);
      await refreshBatchStatuses(t.db.pool, batchId);
      if (i === 0) await linesDrawn(2);
      await new Promise((res) => setTimeout(res, 20));
    }
    const r = await watching;
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    expect(lines[0]).toMatch(/^executing +\[-{30}\] +0% 0\/24 · paid 0 · pending 24/);
    expect(lines.at(-1)).toMatch(
      /^completed_with_exceptions +\[#{30}\] 100% 24\/24 · paid 23 · pending 0 · failed 1 · returned 0 · cancelled 0$/,
    );
    const paidCents =
      gen.totalCents -
      (
        await t.db.pool.query("SELECT amount_cents FROM payments WHERE batch_id = $1 AND status = 'failed'", [
          batchId,
        ])
      ).rows[0].amount_cents;
    expect(r.stdout).toContain(`${batchId}\tcompleted_with_exceptions\tpaid=23/$`);
    expect(r.stdout).toContain(
      `paid=23/$${(paidCents / 100).toFixed(2).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}`,
    );
    // Without --watch: one line.
    const once = await cli(['status', batchId], as('auditor'));
    expect(once.code).toBe(0);
    expect(once.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('report to a file and to stdout equals the API download', async () => {
    const api = await t.as('auditor', { method: 'GET', url: `/api/batches/${batchId}/reports/payments.csv` });
    const out = path.join(home, 'payments.csv');
    const r = await cli(['report', batchId, 'payments', '-o', out], as('auditor'));
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(api.body);
    const s = await cli(['report', batchId, 'sources'], as('auditor'));
    expect(s.code).toBe(0);
    expect(s.stdout).toBe(
      (await t.as('auditor', { method: 'GET', url: `/api/batches/${batchId}/reports/sources.csv` })).body,
    );
    const missing = await cli(['report', '00000000-0000-4000-8000-000000000000', 'branches'], as('auditor'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: Batch 0{8}-.* was not found \(NOT_FOUND\)\n$/);
  });

  it('reconcile: auditors are refused; an operator starts a run and can wait for its findings', async () => {
    const refused = await cli(['reconcile'], as('auditor'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('(FORBIDDEN)');
    const r = await cli(['reconcile', '--wait'], as('operator'));
    const id = r.stdout.split('\n')[0]!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.stderr).toMatch(new RegExp(`^reconciliation ${id}: (done|failed), \\d+ findings\\n$`));
    expect(r.code).toBe(r.stderr.includes(': done,') ? 0 : 1);
  });
});

describe('the entry point', () => {
  it('npm run cli runs main.ts: usage exit 2, a refusal exit 1', async () => {
    // Asynchronous: the server answering the child lives in this process.
    const run = (args: string[], env: Record<string, string> = {}) =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
          env: { PATH: process.env.PATH, HOME: home, LOANPAY_URL: url, ...env },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (status) => resolve({ status, stderr }));
      });
    const usage = await run(['nope']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('unknown command "nope"');
    const refused = await run(['status', '00000000-0000-4000-8000-000000000000'], {
      LOANPAY_TOKEN: t.tokens.auditor,
    });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('(NOT_FOUND)');
  });
});

describe('the progress bar', () => {
  it('counts final payments against all', () => {
    expect(
      progressLine(
        {
          status: 'executing',
          counts: { paid: 5, pending: 5, failed: 0, returned: 0, cancelled: 0 },
          etaSeconds: 125,
        },
        10,
      ),
    ).toBe(
      'executing                 [#####-----]  50% 5/10 · paid 5 · pending 5 · failed 0 · returned 0 · cancelled 0 · eta 2m05s',
    );
  });
});
