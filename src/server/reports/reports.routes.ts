// CSV reports of a batch (api.md): payments, sources, branches — for every status, always current,
// streamed from PostgreSQL through csv-stringify (RFC 4180); account numbers never appear.
import { pipeline, Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { centsToDecimal as centsText } from '../../shared/money.js';
import { ROLES } from '../../shared/roles.js';
import { getBatch } from '../batches/batches.repository.js';
import type { Pool } from '../db.js';
import { errorResponses } from '../http/schemas.js';
import {
  BRANCH_COLUMNS,
  type CsvRow,
  draftLineRows,
  groupColumns,
  groupLines,
  inSnapshot,
  PAYMENT_COLUMNS,
  paymentRows,
  SOURCE_COLUMNS,
} from './reports.repository.js';

export { BRANCH_COLUMNS, PAYMENT_COLUMNS, SOURCE_COLUMNS };

export type ReportKind = 'payments' | 'sources' | 'branches';

/**
 * The CSV body. pipeline() (not pipe) so a client hanging up mid-download destroys the source too,
 * which ends the generator and gives its database connection back.
 */
function csvStream(rows: AsyncIterable<CsvRow>, columns: readonly string[], onError: (e: Error) => void) {
  const csv = stringify({
    header: true,
    columns: [...columns],
    // RFC 4180 by csv-stringify's defaults: a field is quoted only when it holds a quote, comma or
    // line break, and quotes are doubled (an extra quoted_match regex cost a quarter of the time).
    record_delimiter: '\r\n',
  });
  pipeline(Readable.from(rows, { objectMode: true, highWaterMark: 256 }), csv, (err) => {
    if (err && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') onError(err);
  });
  return csv;
}

export async function reportsRoutes(app: FastifyInstance, opts: { pool: Pool }) {
  const { pool } = opts;
  const params = {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', format: 'uuid' } },
  } as const;

  const send = async (batchId: string, kind: ReportKind, reply: FastifyReply) => {
    // Looked up first so an unknown batch is a JSON 404, not a broken download.
    const batch = await getBatch(pool, batchId);
    // Once approved a batch has payments (whatever its status since); before, only its lines.
    const booked = batch.approvedAt !== null;
    reply.header('content-type', 'text/csv; charset=utf-8');
    reply.header('content-disposition', `attachment; filename="batch-${batchId}-${kind}.csv"`);
    reply.header('cache-control', 'no-store');
    const onError = (err: Error) => reply.log.error({ err, batchId, kind }, 'report stream failed');

    if (kind === 'payments') {
      const rows = inSnapshot(pool, (db) =>
        booked ? paymentRows(db, batchId) : draftLineRows(db, batchId, batch.uploadedAt),
      );
      return reply.send(csvStream(rows, PAYMENT_COLUMNS, onError));
    }
    const rows = inSnapshot(pool, async function* (db) {
      const lines = await groupLines(db, batchId, kind === 'sources' ? 'source' : 'branch', booked);
      for (const l of lines) {
        yield kind === 'sources'
          ? [batchId, l.key, l.name, l.paymentCount, centsText(l.totalCents), ...groupColumns(l)]
          : [batchId, l.key, l.employeeCount, l.paymentCount, centsText(l.totalCents), ...groupColumns(l)];
      }
    });
    return reply.send(csvStream(rows, kind === 'sources' ? SOURCE_COLUMNS : BRANCH_COLUMNS, onError));
  };

  for (const kind of ['payments', 'sources', 'branches'] as const) {
    app.get<{ Params: { id: string } }>(
      `/api/batches/:id/reports/${kind}.csv`,
      {
        config: { roles: ROLES },
        schema: {
          tags: ['reports'],
          summary: `CSV of the batch's ${kind} (current statuses; dollars with two decimals)`,
          params,
          produces: ['text/csv'],
          response: errorResponses(404),
        },
      },
      async (request, reply) => send(request.params.id, kind, reply),
    );
  }
}
