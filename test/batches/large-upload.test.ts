// Fault campaign row 2 at full size: 200 MB bodies streamed over real HTTP without a length, so the
// server cannot refuse them up front. Memory must stay bounded (a server that buffered the body would
// grow by at least its size) and nothing may be stored but the audit entry of the refusal.
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateChunks, generateToString } from '../../bench/generator.js';
import { createTestApp, type TestApp } from '../support/app.js';

const MB = 1024 * 1024;
let t: TestApp;
let port: number;

beforeAll(async () => {
  t = await createTestApp({ MAX_UPLOAD_MB: '150' });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  port = (t.app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  // The refused uploads' sockets may still be open from the client's side.
  t.app.server.closeAllConnections();
  await t.app.close();
});

/** Streams `body` (chunked, no Content-Length) and samples this process's RSS while it runs. */
async function streamUpload(
  body: Readable,
): Promise<{ status: number; json: { error: { code: string } }; peakRiseMb: number }> {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/batches',
          headers: {
            authorization: `Bearer ${t.tokens.operator}`,
            'content-type': 'application/xml',
            'transfer-encoding': 'chunked',
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () => {
            // Stop sending what the server no longer reads.
            body.unpipe(req);
            body.destroy();
            req.destroy();
            resolve({ status: res.statusCode ?? 0, text });
          });
        },
      );
      // The server may answer and close before the whole body is sent.
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') reject(e);
      });
      body.on('error', reject);
      body.pipe(req);
    });
    return { status, json: JSON.parse(text), peakRiseMb: (peak - base) / MB };
  } finally {
    clearInterval(sampler);
  }
}

/** A generated payroll file, rows without end, cut off after `bytes` (rows stay well-formed until then). */
function payrollOf(bytes: number): Readable {
  let sent = 0;
  const rows = generateChunks({ rows: 250_000, employees: 20_000, sources: 5, branches: 30, seed: 77 });
  return Readable.from(
    (function* () {
      for (const chunk of rows) {
        if (sent >= bytes) return;
        sent += Buffer.byteLength(chunk);
        yield Buffer.from(chunk);
      }
    })(),
  );
}

/** A file whose one <FirstName> holds `bytes` of text. */
function giantText(bytes: number): Readable {
  const piece = Buffer.alloc(MB, 'a');
  return Readable.from(
    (function* () {
      yield Buffer.from('<Payments><Payment><Employee><FirstName>');
      for (let i = 0; i < bytes / MB; i++) yield piece;
      yield Buffer.from('</FirstName></Employee></Payment></Payments>');
    })(),
  );
}

async function nothingStored() {
  const q = async (sql: string) => (await t.db.pool.query(sql)).rows[0].n as number;
  expect(await q('SELECT count(*)::int AS n FROM batches')).toBe(0);
  expect(await q('SELECT count(*)::int AS n FROM batch_lines')).toBe(0);
  expect(await q('SELECT count(*)::int AS n FROM employees')).toBe(0);
  expect(await q('SELECT count(*)::int AS n FROM loans')).toBe(0);
}

describe('200 MB uploads', () => {
  it('a 200 MB payroll file with no length → 413 once past MAX_UPLOAD_MB, memory bounded, nothing stored', async () => {
    const r = await streamUpload(payrollOf(200 * MB));
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe('FILE_TOO_LARGE');
    // 150 MB (about 140,000 rows) were parsed, validated and staged before the limit was reached,
    // with the generator streaming in this same process: a server that buffered the body would
    // grow by those 150 MB before doing anything else.
    if (process.env.SHOW_RSS) console.log(`peak rise ${r.peakRiseMb.toFixed(1)} MB`);
    expect(r.peakRiseMb).toBeLessThan(150);
    await nothingStored();
    const audit = await t.db.pool.query(
      "SELECT details FROM audit_log WHERE action = 'batch.upload_refused' ORDER BY id DESC LIMIT 1",
    );
    expect(audit.rows[0].details.code).toBe('FILE_TOO_LARGE');
  }, 120_000);

  it('a 200 MB text node → 400 at the reader’s text limit, memory bounded, nothing stored', async () => {
    const r = await streamUpload(giantText(200 * MB));
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('XML_MALFORMED');
    expect(r.peakRiseMb).toBeLessThan(120);
    await nothingStored();
  }, 120_000);
});

// After the refusals above (they check that nothing is stored at all).
describe('uploads without a length', () => {
  it('a valid file sent without a length is stored whole, each of its new loans once', async () => {
    const { xml } = generateToString({ rows: 2000, employees: 400, sources: 3, branches: 3, seed: 78 });
    const r = await streamUpload(Readable.from([Buffer.from(xml)]));
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    const [c] = (
      await t.db.pool.query(
        `SELECT (SELECT count(*)::int FROM batch_lines) AS lines, (SELECT count(*)::int FROM loans) AS loans,
                (SELECT count(DISTINCT loan_id)::int FROM batch_lines) AS line_loans,
                (SELECT count(*)::int FROM batch_lines l WHERE NOT EXISTS (SELECT 1 FROM loans WHERE id = l.loan_id)) AS orphans`,
      )
    ).rows;
    expect(c.lines).toBe(2000);
    expect(c.loans).toBe(c.line_loans);
    expect(c.orphans).toBe(0);
    const batch = (r.json as unknown as { batch: { summary: { changes: { newLoanAccounts: number } } } })
      .batch;
    expect(batch.summary.changes.newLoanAccounts).toBe(c.loans);
  });
});
