// CSV reports of a batch (api.md): payments, sources, branches — for every status, always current,
// streamed from PostgreSQL (COPY … TO STDOUT) as RFC 4180 CSV (csv.ts); account numbers
// never appear.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { centsToDecimal as centsText } from '../../shared/money.js';
import { ROLES } from '../../shared/roles.js';
import { getBatch } from '../batches/batches.repository.js';
import type { Pool } from '../db.js';
import { errorResponses } from '../http/schemas.js';
import { csvRecord, csvRecords } from './csv.js';
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
 * The CSV body as large chunks: the header, then each batch of records (RFC 4180, see csv.ts)
 * leaves as one Buffer, so the socket sees tens of kilobytes per write instead of one write per
 * record. Readable.from pulls the next batch only when the response wants more (highWaterMark 1),
 * so memory stays flat; a client hanging up destroys the stream, which ends the generator and,
 * through it, gives the database connection back. An error mid-stream errors the stream: Fastify
 * logs it and ends the response abruptly, so a client never mistakes a truncated report for a
 * whole one.
 */
async function* csvChunks(batches: AsyncIterable<CsvRow[]>, columns: readonly string[]) {
  // The header goes with the first batch: a failure before any row (no connection, say) is then
  // still an ordinary error response.
  let header = csvRecord(columns);
  for await (const rows of batches) {
    if (rows.length === 0) continue;
    yield Buffer.from(header + csvRecords(rows));
    header = '';
  }
  if (header) yield Buffer.from(header);
}

const csvStream = (batches: AsyncIterable<CsvRow[]>, columns: readonly string[]) =>
  Readable.from(csvChunks(batches, columns), { highWaterMark: 1 });

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
    if (kind === 'payments') {
      const batches = inSnapshot(pool, (db) =>
        booked ? paymentRows(db, batchId) : draftLineRows(db, batchId, batch.uploadedAt),
      );
      return reply.send(csvStream(batches, PAYMENT_COLUMNS));
    }
    const batches = inSnapshot(pool, async function* (db): AsyncGenerator<CsvRow[]> {
      const lines = await groupLines(db, batchId, kind === 'sources' ? 'source' : 'branch', booked);
      yield lines.map((l) =>
        kind === 'sources'
          ? [batchId, l.key, l.name, l.paymentCount, centsText(l.totalCents), ...groupColumns(l)]
          : [batchId, l.key, l.employeeCount, l.paymentCount, centsText(l.totalCents), ...groupColumns(l)],
      );
    });
    return reply.send(csvStream(batches, kind === 'sources' ? SOURCE_COLUMNS : BRANCH_COLUMNS));
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
