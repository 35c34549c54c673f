// Auditors read everything and change nothing: every write route of the OpenAPI document refuses
// them with 403 (and anyone without a user with 401); every read route lets them in. The audit log
// filters by entity, user, action and time, with cursor pages.
import { beforeAll, describe, expect, it } from 'vitest';
import { generateToString } from '../../bench/generator.js';
import { book, upload } from '../reports/support.js';
import { createTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let batchId: string;
let employeeId: string;
let paymentId: string;

const WRITE_METHODS = ['post', 'put', 'patch', 'delete'];
// Public or self-service: login needs no user; logout ends one's own session.
const OPEN_TO_ALL = new Set(['POST /api/auth/login', 'POST /api/auth/logout']);

function apiRoutes(): { method: string; path: string }[] {
  const spec = (
    t.app as unknown as { swagger(): { paths: Record<string, Record<string, unknown>> } }
  ).swagger();
  return Object.entries(spec.paths)
    .filter(([path]) => path.startsWith('/api/'))
    .flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method, path })));
}

function fill(path: string): string {
  return path
    .replace('{employeeId}', employeeId)
    .replace('{sourceId}', 'CORP-7dc67e67-e879-4da0-8fee-7d14ba4752b8')
    .replace(/\{id\}/g, path.startsWith('/api/payments/') ? paymentId : batchId)
    .replace(/\{\w+\}/g, '00000000-0000-4000-8000-000000000000');
}

beforeAll(async () => {
  t = await createTestApp({ REQUIRE_SECOND_APPROVER: 'true' });
  const g = generateToString({ rows: 30, employees: 6, sources: 2, branches: 2, seed: 77 });
  batchId = await upload(t, g.xml);
  await book(t, batchId);
  const p = await t.db.pool.query('SELECT id, employee_id FROM payments WHERE batch_id = $1 LIMIT 1', [
    batchId,
  ]);
  paymentId = p.rows[0].id;
  employeeId = p.rows[0].employee_id;
});

describe('auditors', () => {
  it('are refused (403 FORBIDDEN) on every write route, and nothing changes', async () => {
    const writes = apiRoutes().filter(
      (r) => WRITE_METHODS.includes(r.method) && !OPEN_TO_ALL.has(`${r.method.toUpperCase()} ${r.path}`),
    );
    // The known writes are all there, so the list is not silently empty.
    for (const known of [
      'post /api/batches',
      'post /api/batches/{id}/approve',
      'post /api/batches/{id}/reject',
      'post /api/payments/{id}/retry',
      'post /api/users',
    ]) {
      expect(writes.map((w) => `${w.method} ${w.path}`)).toContain(known);
    }
    const before = await snapshot();
    for (const w of writes) {
      const url = fill(w.path);
      const r = await t.as('auditor', { method: w.method.toUpperCase() as 'POST', url, payload: {} });
      expect(r.statusCode, `${w.method} ${url}: ${r.body}`).toBe(403);
      expect(r.json().error.code).toBe('FORBIDDEN');
      const anon = await t.app.inject({ method: w.method.toUpperCase() as 'POST', url, payload: {} });
      expect(anon.statusCode, `${w.method} ${url} without a user`).toBe(401);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('read every read route (never 401/403)', async () => {
    const reads = apiRoutes().filter((r) => r.method === 'get' && !r.path.endsWith('/events'));
    expect(reads.length).toBeGreaterThan(10);
    for (const r of reads) {
      const url = fill(r.path);
      const res = await t.as('auditor', { method: 'GET', url });
      expect([401, 403], `GET ${url}: ${res.statusCode} ${res.body.slice(0, 200)}`).not.toContain(
        res.statusCode,
      );
      expect(res.statusCode, `GET ${url}`).toBeLessThan(500);
      const anon = await t.app.inject({ method: 'GET', url });
      expect(anon.statusCode, `GET ${url} without a user`).toBe(401);
    }
  });
});

async function snapshot() {
  const { rows } = await t.db.pool.query(
    `SELECT (SELECT count(*)::int FROM batches) AS batches,
            (SELECT string_agg(status, ',' ORDER BY id) FROM batches) AS batch_statuses,
            (SELECT string_agg(status, ',' ORDER BY id) FROM payments) AS payment_statuses,
            (SELECT count(*)::int FROM ledger_entries) AS entries,
            (SELECT count(*)::int FROM users) AS users,
            (SELECT count(*)::int FROM audit_log WHERE action NOT LIKE 'auth.%') AS audits`,
  );
  return rows[0];
}

describe('the audit log', () => {
  it('filters by entity, user, action and time', async () => {
    const get = async (qs: string) => {
      const r = await t.as('auditor', { method: 'GET', url: `/api/audit?${qs}` });
      expect(r.statusCode, r.body).toBe(200);
      return r.json() as {
        items: { id: string; at: string; action: string; entityId: string; userId: string }[];
        nextCursor: string | null;
      };
    };
    const batch = await get(`entityType=batch&entityId=${batchId}`);
    expect(batch.items.map((e) => e.action).sort()).toEqual(['batch.approve', 'batch.upload']);
    const approve = batch.items.find((e) => e.action === 'batch.approve')!;
    expect(approve.userId).toBe(t.userIds.approver);

    const approvals = await get(`action=batch.approve&userId=${t.userIds.approver}`);
    expect(approvals.items.map((e) => e.entityId)).toEqual([batchId]);
    expect((await get(`action=batch.approve&userId=${t.userIds.operator}`)).items).toEqual([]);

    const at = approve.at;
    const from = await get(`entityId=${batchId}&from=${encodeURIComponent(at)}`);
    expect(from.items.map((e) => e.action)).toEqual(['batch.approve']);
    const to = await get(`entityId=${batchId}&to=${encodeURIComponent(at)}`);
    expect(to.items.map((e) => e.action)).toEqual(['batch.upload']);
    expect((await t.as('auditor', { method: 'GET', url: '/api/audit?from=yesterday' })).statusCode).toBe(400);
  });

  // Ids pass from one digit count to the next (9 → 10) within this file's entries, so ordering the
  // text form of the id would put 9 before 10.
  it('is newest first by entry number, and its cursor pages add up to the whole list', async () => {
    // Enough entries for two-digit ids, whatever ran before: 9 must sort below 10.
    for (const name of ['audit-a', 'audit-b', 'audit-c', 'audit-d', 'audit-e'])
      await t.createUser(name, 'auditor');
    const get = async (qs: string) => {
      const r = await t.as('auditor', { method: 'GET', url: `/api/audit?${qs}` });
      expect(r.statusCode, r.body).toBe(200);
      return r.json() as { items: { id: string; action: string }[]; nextCursor: string | null };
    };
    const batch = await get(`entityType=batch&entityId=${batchId}`);
    expect(batch.items.map((e) => e.action)).toEqual(['batch.approve', 'batch.upload']);
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const p = await get(`limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      all.push(...p.items.map((e) => e.id));
      cursor = p.nextCursor;
    } while (cursor);
    const everything = await get('limit=1000');
    expect(everything.items.length).toBeGreaterThan(10);
    expect(all).toEqual(everything.items.map((e) => e.id));
    expect(all.map(Number)).toEqual([...all.map(Number)].sort((a, b) => b - a));
  });
});
