// CSV reports of a batch (api.md): payments, sources, branches — for every status, always current,
// streamed from PostgreSQL (COPY … TO STDOUT) through csv-stringify (RFC 4180); account numbers
// never appear.
import { Readable } from 'node:stream';
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
 * The CSV body as large chunks: each batch of records goes through one csv-stringify Stringifier
 * (RFC 4180 by its defaults: a field is quoted only when it holds a quote, comma or line break,
 * quotes doubled; records end with CRLF) and leaves as one Buffer, so the socket sees a few hundred
 * kilobytes per write instead of one write per record. The generator pulls the next batch only
 * when the response wants more, so memory stays flat; a client hanging up destroys the stream,
 * which ends the generator and, through it, gives the database connection back.
 */
async function* csvChunks(batches: AsyncIterable<CsvRow[]>, columns: readonly string[]) {
  const csv = stringify({
    header: true,
    columns: [...columns],
    record_delimiter: '\r\n',
    // With an explicit record_delimiter csv-stringify would otherwise quote only fields holding
    // the whole CRLF: a lone LF or CR in a message must be quoted too (RFC 4180).
    quote_record_delimiter: true,
    // The output is read once per batch, so it must be able to hold one.
    readableHighWaterMark: 64 * 1024 * 1024,
  });
  let failure: Error | undefined;
  csv.on('error', (err) => {
    failure ??= err;
  });
  for await (const rows of batches) {
    for (const row of rows) csv.write(row);
    if (failure) throw failure;
    const out: Buffer | null = csv.read();
    if (out) yield out;
  }
  csv.end();
  // What is left: the header line alone when there was no record.
  for await (const out of csv) yield out as Buffer;
  if (failure) throw failure;
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
    // A stream error after the first bytes is logged by Fastify and ends the response abruptly,
    // so a client never mistakes a truncated report for a whole one.
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
