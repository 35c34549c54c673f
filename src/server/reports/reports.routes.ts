// CSV reports of a batch (api.md): payments, sources, branches — streamed in pages from PostgreSQL
// through csv-stringify, always current; account numbers never appear.
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { FastifyInstance } from 'fastify';
import { centsToDecimal } from '../../shared/money.js';
import { ROLES } from '../../shared/roles.js';
import { getBatch } from '../batches/batches.repository.js';
import type { Pool } from '../db.js';
import { AppError } from '../errors.js';

export const PAYMENT_COLUMNS = [
  'payment_id',
  'batch_id',
  'row_number',
  'employee_id',
  'employee_name',
  'branch_id',
  'source_id',
  'source_name',
  'amount',
  'status',
  'method_payment_id',
  'method_status',
  'failure_code',
  'failure_message',
  'created_at',
  'updated_at',
] as const;

// api.md's order: paid first, then pending, failed, returned, cancelled.
const ORDERED_GROUP_COLUMNS = ['paid', 'pending', 'failed', 'returned', 'cancelled'].flatMap((g) => [
  `${g}_count`,
  `${g}_amount`,
]);
export const SOURCE_COLUMNS = [
  'batch_id',
  'source_id',
  'source_name',
  'payment_count',
  'total_amount',
  ...ORDERED_GROUP_COLUMNS,
];
export const BRANCH_COLUMNS = [
  'batch_id',
  'branch_id',
  'employee_count',
  'payment_count',
  'total_amount',
  ...ORDERED_GROUP_COLUMNS,
];

const PAGE = 5000;
const DRAFT_STATUSES = new Set(['awaiting_approval', 'rejected']);

/** Rows of the payments report, page by page (keyset on row_number), so memory stays flat. */
async function* draftPaymentRows(pool: Pool, batchId: string, uploadedAt: string) {
  let after = 0;
  for (;;) {
    const { rows } = await pool.query(
      `SELECT l.row_number, l.employee_id, l.first_name || ' ' || l.last_name AS name, l.branch_id, l.source_id,
              s.name AS source_name, l.amount_cents
         FROM batch_lines l JOIN sources s USING (source_id)
        WHERE l.batch_id = $1 AND l.row_number > $2 ORDER BY l.row_number LIMIT $3`,
      [batchId, after, PAGE],
    );
    for (const r of rows) {
      yield [
        '',
        batchId,
        r.row_number,
        r.employee_id,
        r.name,
        r.branch_id,
        r.source_id,
        r.source_name,
        centsToDecimal(r.amount_cents),
        'draft',
        '',
        '',
        '',
        '',
        uploadedAt,
        uploadedAt,
      ];
    }
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1].row_number;
  }
}

function csvResponse(rows: AsyncIterable<unknown[]>, columns: readonly string[]): Readable {
  const csv = stringify({
    header: true,
    columns: [...columns],
    quoted_match: /[",\r\n]/,
    record_delimiter: '\r\n',
  });
  Readable.from(rows).pipe(csv);
  return csv;
}

export async function reportsRoutes(app: FastifyInstance, opts: { pool: Pool }) {
  const { pool } = opts;
  const params = {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', format: 'uuid' } },
  } as const;

  const send = async (
    batchId: string,
    kind: 'payments' | 'sources' | 'branches',
    reply: import('fastify').FastifyReply,
  ) => {
    const batch = await getBatch(pool, batchId);
    if (!DRAFT_STATUSES.has(batch.status)) {
      throw new AppError(
        'INVALID_STATE',
        'Reports of approved batches are not available yet in this version',
      );
    }
    reply.header('content-type', 'text/csv; charset=utf-8');
    reply.header('content-disposition', `attachment; filename="batch-${batchId}-${kind}.csv"`);
    reply.header('cache-control', 'no-store');
    if (kind === 'payments')
      return reply.send(csvResponse(draftPaymentRows(pool, batchId, batch.uploadedAt), PAYMENT_COLUMNS));
    const dimension = kind === 'sources' ? 'source' : 'branch';
    const { rows } = await pool.query(
      `SELECT t.key, t.employee_count, t.payment_count, t.total_cents, s.name
         FROM batch_totals t LEFT JOIN sources s ON s.source_id = t.key
        WHERE t.batch_id = $1 AND t.dimension = $2 ORDER BY t.key`,
      [batchId, dimension],
    );
    const zeros = ORDERED_GROUP_COLUMNS.map((c) => (c.endsWith('_count') ? 0 : '0.00'));
    const out = rows.map((r) =>
      kind === 'sources'
        ? [batchId, r.key, r.name, r.payment_count, centsToDecimal(r.total_cents), ...zeros]
        : [batchId, r.key, r.employee_count, r.payment_count, centsToDecimal(r.total_cents), ...zeros],
    );
    return reply.send(csvResponse(Readable.from(out), kind === 'sources' ? SOURCE_COLUMNS : BRANCH_COLUMNS));
  };

  for (const kind of ['payments', 'sources', 'branches'] as const) {
    app.get<{ Params: { id: string } }>(
      `/api/batches/:id/reports/${kind}.csv`,
      {
        config: { roles: ROLES },
        schema: { tags: ['reports'], summary: `CSV of the batch's ${kind}`, params, produces: ['text/csv'] },
      },
      async (request, reply) => send(request.params.id, kind, reply),
    );
  }
}
