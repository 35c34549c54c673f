// From an uploaded XML stream to a draft batch, all or nothing: rows are parsed and validated as
// they stream in, staged in a temporary table inside one transaction, and the draft (people,
// loans, sources, lines, warnings, totals) is written with set-based SQL. Any error rolls it all
// back; only an audit entry of the refusal is kept.
import { createHash } from 'node:crypto';
import { type CopyStreamQuery, from as copyFrom } from 'pg-copy-streams';
import { type Actor, recordAudit } from '../audit/audit.repository.js';
import type { Pool, PoolClient } from '../db.js';
import { AppError } from '../errors.js';
import type { Cipher } from '../secrets.js';
import type { Issue, ParsedRow } from './validate.js';
import { FileValidator } from './validate.js';
import { readRows, XmlError } from './xml-reader.js';

export interface IngestDeps {
  pool: Pool;
  cipher: Cipher;
  annualLimitCents: number;
}

export interface IngestInput {
  fileName: string;
  body: AsyncIterable<Buffer | Uint8Array>;
  maxBytes: number;
  actor: Actor;
}

export interface IngestResult {
  batchId: string;
  rowCount: number;
  totalCents: number;
}

const MAX_ERRORS = 10_000;

interface EmployeeDetails {
  branchId: string;
  firstName: string;
  lastName: string;
  dob: string;
  phone: string;
}

interface SourceDetails {
  firstRow: number;
  name: string;
  dba: string;
  ein: string;
  line1: string;
  city: string;
  state: string;
  zip: string;
  routing: string;
  accountEnc: string;
  accountLast4: string;
  fingerprint: string;
}

/** Counts and hashes the bytes as they pass, refusing a file over the limit. */
async function* meter(
  body: AsyncIterable<Buffer | Uint8Array>,
  maxBytes: number,
  hash: ReturnType<typeof createHash>,
) {
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > maxBytes) {
      throw new AppError(
        'FILE_TOO_LARGE',
        `The file is larger than the ${Math.round(maxBytes / 1048576)} MB limit (MAX_UPLOAD_MB)`,
      );
    }
    hash.update(chunk);
    yield chunk;
  }
}

/** COPY text format: backslash, tab, newline and carriage return escaped. */
function copyText(value: string): string {
  return /[\\\t\n\r]/.test(value)
    ? value.replace(/[\\\t\n\r]/g, (c) =>
        c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
      )
    : value;
}

/**
 * Rows streamed into a table with COPY as the parser produces them, in 64 KB writes; the parser
 * waits (back-pressure) only when the connection's buffer is full. One COPY per upload.
 */
class CopyWriter {
  private buffer = '';
  private readonly stream: CopyStreamQuery;
  private readonly done: Promise<void>;
  private settled = false;

  constructor(client: PoolClient, sql: string) {
    this.stream = client.query(copyFrom(sql));
    this.done = new Promise<void>((resolve, reject) => {
      this.stream.on('finish', resolve);
      this.stream.on('error', reject);
    }).finally(() => {
      this.settled = true;
    });
    this.done.catch(() => {});
  }

  /** Adds one line (with its newline); returns a promise only when the parser should wait. */
  add(line: string): Promise<void> | undefined {
    this.buffer += line;
    if (this.buffer.length < 65_536) return undefined;
    const ok = this.stream.write(this.buffer);
    this.buffer = '';
    if (ok) return undefined;
    return Promise.race([new Promise<void>((r) => this.stream.once('drain', r)), this.done]);
  }

  async finish(): Promise<void> {
    if (this.buffer) this.stream.write(this.buffer);
    this.buffer = '';
    this.stream.end();
    await this.done;
  }

  /** Ends a COPY that must not complete (CopyFail), so the connection can roll back. */
  async abort(): Promise<void> {
    if (this.settled) return;
    this.stream.destroy(new Error('upload refused'));
    await this.done.catch(() => {});
  }
}

export class IngestService {
  constructor(private readonly deps: IngestDeps) {}

  async ingest(input: IngestInput): Promise<IngestResult> {
    const { pool, cipher } = this.deps;
    const fileHash = createHash('sha256');
    const validator = new FileValidator({ maxErrors: MAX_ERRORS });
    const employees = new Map<string, EmployeeDetails>();
    const sources = new Map<string, SourceDetails>();
    const client = await pool.connect();
    // The connection can die mid-upload; observe it and destroy the client on release.
    let broken: Error | undefined;
    const onClientError = (e: Error) => {
      broken = e;
    };
    client.on('error', onClientError);
    // Loan numbers stay in memory (by fingerprint) until we know which loans are new: only
    // those are encrypted and stored; a file of known loans costs no encryption at all.
    const loanNumbers = new Map<string, string>();
    let copy: CopyWriter | undefined;
    let hasErrors = false;

    const onValidRow = (row: ParsedRow): Promise<void> | undefined => {
      if (!employees.has(row.employeeId)) {
        employees.set(row.employeeId, {
          branchId: row.branchId,
          firstName: row.firstName,
          lastName: row.lastName,
          dob: row.dob,
          phone: row.phone,
        });
      }
      if (!sources.has(row.sourceId)) {
        sources.set(row.sourceId, {
          firstRow: row.rowNumber,
          name: row.payorName,
          dba: row.dba,
          ein: row.ein,
          line1: row.addressLine1,
          city: row.city,
          state: row.state,
          zip: row.zip,
          routing: row.routing,
          accountEnc: cipher.encrypt(row.accountNumber),
          accountLast4: row.accountNumber.slice(-4),
          fingerprint: cipher.fingerprint(`${row.routing}:${row.accountNumber}`),
        });
      }
      const loanFp = cipher.fingerprint(`${row.plaidId}:${row.loanAccountNumber}`);
      if (!loanNumbers.has(loanFp)) loanNumbers.set(loanFp, row.loanAccountNumber);
      return (copy as CopyWriter).add(
        `${row.rowNumber}\t${copyText(row.employeeId)}\t${copyText(row.sourceId)}\t${copyText(row.plaidId)}\t${loanFp}\t${copyText(row.loanAccountNumber.slice(-4))}\t${row.amountCents}\n`,
      );
    };

    try {
      await client.query('BEGIN');
      // Sorts and hashes over a whole file stay in memory.
      await client.query("SET LOCAL work_mem = '64MB'");
      await client.query(
        `CREATE TEMP TABLE ingest_rows (row_number int, employee_id text, source_id text, plaid_id text,
           loan_fp text, loan_last4 text, amount_cents bigint) ON COMMIT DROP`,
      );
      copy = new CopyWriter(
        client,
        'COPY ingest_rows (row_number, employee_id, source_id, plaid_id, loan_fp, loan_last4, amount_cents) FROM STDIN',
      );
      await readRows(meter(input.body, input.maxBytes, fileHash), (raw) => {
        const row = validator.add(raw);
        if (row === null) {
          hasErrors = true;
          return undefined;
        }
        return hasErrors ? undefined : onValidRow(row);
      });
      const result = validator.finish();
      if (result.errorCount > 0) {
        throw new AppError(
          'VALIDATION_FAILED',
          `The file has ${result.errorCount} error${result.errorCount === 1 ? '' : 's'}; nothing was stored. Fix them and upload it again.`,
          { errorCount: result.errorCount, truncated: result.truncated, errors: result.errors },
        );
      }
      await copy.finish();
      await client.query('ANALYZE ingest_rows');

      const duplicate = await client.query(
        "SELECT id FROM batches WHERE rows_digest = $1 AND status <> 'rejected' LIMIT 1",
        [result.fileDigest],
      );
      if (duplicate.rowCount) {
        const batchId = duplicate.rows[0].id as string;
        throw new AppError('DUPLICATE_FILE', `These rows were already uploaded as batch ${batchId}`, {
          batchId,
        });
      }

      const batchId = await this.writeDraft(client, input, {
        fileSha256: fileHash.digest('hex'),
        rowsDigest: result.fileDigest,
        rowCount: result.rowCount,
        totalCents: result.totalCents,
        warnings: result.warnings,
        employees,
        sources,
        loanNumbers,
      });
      await client.query('COMMIT');
      return { batchId, rowCount: result.rowCount, totalCents: result.totalCents };
    } catch (err) {
      await copy?.abort();
      await client.query('ROLLBACK').catch((e: Error) => {
        broken = e;
      });
      const appErr = asAppError(err);
      await recordAudit(pool, input.actor, 'batch.upload_refused', 'batch', null, {
        fileName: input.fileName,
        code: appErr.code,
        message: appErr.message,
        ...(appErr.details && 'errorCount' in appErr.details
          ? { errorCount: appErr.details.errorCount }
          : {}),
        ...(appErr.details && 'batchId' in appErr.details ? { batchId: appErr.details.batchId } : {}),
      }).catch(() => {});
      throw appErr;
    } finally {
      client.off('error', onClientError);
      client.release(broken);
    }
  }

  private async writeDraft(
    tx: PoolClient,
    input: IngestInput,
    f: {
      fileSha256: string;
      rowsDigest: string;
      rowCount: number;
      totalCents: number;
      warnings: Issue[];
      employees: Map<string, EmployeeDetails>;
      sources: Map<string, SourceDetails>;
      loanNumbers: Map<string, string>;
    },
  ): Promise<string> {
    const batch = await tx.query(
      `INSERT INTO batches (file_name, file_sha256, rows_digest, status, row_count, total_cents, uploaded_by)
       VALUES ($1, $2, $3, 'awaiting_approval', $4, $5, $6) RETURNING id`,
      [input.fileName, f.fileSha256, f.rowsDigest, f.rowCount, f.totalCents, input.actor.userId],
    );
    const batchId = batch.rows[0].id as string;

    // Warnings found in the file itself, then those that need what the database knows.
    await tx.query(
      'CREATE TEMP TABLE ingest_warnings (row_number int, field text, code text, message text) ON COMMIT DROP',
    );
    if (f.warnings.length > 0) {
      await tx.query(
        'INSERT INTO ingest_warnings SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[])',
        [
          f.warnings.map((w) => w.row),
          f.warnings.map((w) => w.field),
          f.warnings.map((w) => w.code),
          f.warnings.map((w) => w.message),
        ],
      );
    }

    // Sources: one payor per (name, EIN); new bank details for a known CORP- id are a change.
    let changedSources = 0;
    const bankAccountIds = new Map<string, string>();
    for (const [sourceId, s] of f.sources) {
      const payor = await tx.query(
        `INSERT INTO payors (name, ein, dba, address_line1, city, state, zip) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (name, ein) DO UPDATE SET dba = EXCLUDED.dba, address_line1 = EXCLUDED.address_line1,
           city = EXCLUDED.city, state = EXCLUDED.state, zip = EXCLUDED.zip, updated_at = now()
         RETURNING id`,
        [s.name, s.ein, s.dba, s.line1, s.city, s.state, s.zip],
      );
      const latest = await tx.query(
        `SELECT fingerprint, routing, account_last4 FROM source_bank_accounts WHERE source_id = $1
          ORDER BY created_at DESC, id DESC LIMIT 1`,
        [sourceId],
      );
      if (latest.rowCount && latest.rows[0].fingerprint !== s.fingerprint) {
        changedSources++;
        const old = latest.rows[0];
        const field = old.routing !== s.routing ? 'Payor/ABARouting' : 'Payor/AccountNumber';
        await tx.query('INSERT INTO ingest_warnings VALUES ($1, $2, $3, $4)', [
          s.firstRow,
          field,
          'SOURCE_DETAILS_CHANGED',
          `Source ${sourceId} now pays from routing ${s.routing}, account ••••${s.accountLast4} (was routing ${old.routing}, account ••••${old.account_last4}); approving makes a new source account at Method`,
        ]);
      }
      await tx.query(
        `INSERT INTO sources (source_id, payor_id, name, dba) VALUES ($1, $2, $3, $4)
         ON CONFLICT (source_id) DO UPDATE SET payor_id = EXCLUDED.payor_id, name = EXCLUDED.name, dba = EXCLUDED.dba,
           updated_at = now()`,
        [sourceId, payor.rows[0].id, s.name, s.dba],
      );
      const acct = await tx.query(
        `INSERT INTO source_bank_accounts (source_id, routing, account_number_enc, account_last4, fingerprint, first_batch_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (source_id, fingerprint) DO UPDATE SET source_id = EXCLUDED.source_id
         RETURNING id`,
        [sourceId, s.routing, s.accountEnc, s.accountLast4, s.fingerprint, batchId],
      );
      bankAccountIds.set(sourceId, acct.rows[0].id);
    }

    // Employees: compare with what we hold before updating, so review can show new and changed ones.
    const ids = [...f.employees.keys()];
    const emp = [...f.employees.values()];
    await tx.query(
      `CREATE TEMP TABLE ingest_employees ON COMMIT DROP AS
       SELECT i.*, e.employee_id IS NULL AS is_new,
              (e.employee_id IS NOT NULL AND (e.first_name, e.last_name, e.branch_id, e.dob)
                 IS DISTINCT FROM (i.first_name, i.last_name, i.branch_id, i.dob)) AS is_changed
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::text[])
                AS i (employee_id, branch_id, first_name, last_name, dob, phone)
         LEFT JOIN employees e USING (employee_id)`,
      [
        ids,
        emp.map((e) => e.branchId),
        emp.map((e) => e.firstName),
        emp.map((e) => e.lastName),
        emp.map((e) => e.dob),
        emp.map((e) => e.phone),
      ],
    );
    await tx.query('ANALYZE ingest_employees');

    // Loans: keyed by (employee, Plaid id, loan number fingerprint) — never by name. Only the new
    // ones are encrypted (here, in this process) and inserted.
    await tx.query(
      `CREATE TEMP TABLE ingest_new_loans ON COMMIT DROP AS
       SELECT DISTINCT ON (r.employee_id, r.plaid_id, r.loan_fp) r.employee_id, r.plaid_id, r.loan_fp, r.loan_last4
         FROM ingest_rows r
        WHERE NOT EXISTS (SELECT 1 FROM loans l
                           WHERE l.employee_id = r.employee_id AND l.plaid_id = r.plaid_id AND l.fingerprint = r.loan_fp)
        ORDER BY r.employee_id, r.plaid_id, r.loan_fp, r.row_number`,
    );
    await tx.query('ANALYZE ingest_new_loans');
    const newFps = await tx.query<{ loan_fp: string }>('SELECT DISTINCT loan_fp FROM ingest_new_loans');

    // The employees upsert runs in PostgreSQL while this process encrypts the new loan numbers
    // (50k of them on a first file: ≈ 0.4 s of CPU each side, on different cores).
    const employeesWritten = tx.query(
      `INSERT INTO employees (employee_id, branch_id, first_name, last_name, dob, phone)
       SELECT employee_id, branch_id, first_name, last_name, dob, phone FROM ingest_employees
       ON CONFLICT (employee_id) DO UPDATE SET branch_id = EXCLUDED.branch_id, first_name = EXCLUDED.first_name,
         last_name = EXCLUDED.last_name, dob = EXCLUDED.dob, phone = EXCLUDED.phone, updated_at = now()
       WHERE (employees.branch_id, employees.first_name, employees.last_name, employees.dob, employees.phone)
         IS DISTINCT FROM (EXCLUDED.branch_id, EXCLUDED.first_name, EXCLUDED.last_name, EXCLUDED.dob, EXCLUDED.phone)`,
    );
    employeesWritten.catch(() => {}); // awaited below; this only keeps a failure from counting as unhandled first
    const fps = newFps.rows.map((r) => r.loan_fp);
    const sealed = fps.map((fp) => this.deps.cipher.encrypt(f.loanNumbers.get(fp) as string));
    await employeesWritten;
    if (fps.length) {
      await tx.query(
        `INSERT INTO loans (employee_id, plaid_id, loan_number_enc, loan_last4, fingerprint)
         SELECT n.employee_id, n.plaid_id, e.enc, n.loan_last4, n.loan_fp
           FROM ingest_new_loans n JOIN unnest($1::text[], $2::text[]) AS e (fp, enc) ON e.fp = n.loan_fp
         ON CONFLICT DO NOTHING`,
        [fps, sealed],
      );
    }

    // Every row joins its employee, source and loan: hash joins, whatever the planner guesses about
    // tables written a moment ago.
    await tx.query('SET LOCAL enable_nestloop = off');
    const lines = await tx.query(
      `INSERT INTO batch_lines (batch_id, row_number, employee_id, branch_id, first_name, last_name, source_id,
         source_bank_account_id, loan_id, plaid_id, amount_cents, flags)
       SELECT $1, r.row_number, r.employee_id, e.branch_id, e.first_name, e.last_name, r.source_id, s.bank_account_id,
              l.id, r.plaid_id, r.amount_cents,
              array_remove(ARRAY[CASE WHEN e.is_new THEN 'NEW_EMPLOYEE' END,
                                 CASE WHEN e.is_changed THEN 'CHANGED_EMPLOYEE' END,
                                 CASE WHEN n.loan_fp IS NOT NULL THEN 'NEW_LOAN_ACCOUNT' END], NULL)
         FROM ingest_rows r
         JOIN ingest_employees e USING (employee_id)
         JOIN unnest($2::text[], $3::uuid[]) AS s (source_id, bank_account_id) USING (source_id)
         JOIN loans l ON l.employee_id = r.employee_id AND l.plaid_id = r.plaid_id AND l.fingerprint = r.loan_fp
         LEFT JOIN ingest_new_loans n ON n.employee_id = r.employee_id AND n.plaid_id = r.plaid_id AND n.loan_fp = r.loan_fp`,
      [batchId, [...bankAccountIds.keys()], [...bankAccountIds.values()]],
    );
    await tx.query('SET LOCAL enable_nestloop TO DEFAULT');
    if (lines.rowCount !== f.rowCount) {
      // Every staged row has its employee, source and loan by now; anything else is a bug.
      throw new Error(`upload wrote ${lines.rowCount} lines for ${f.rowCount} rows`);
    }

    // A re-export paying everyone twice: same loan (so same employee) and amount in a live batch of the last 30 days.
    await tx.query(
      `INSERT INTO ingest_warnings
       SELECT DISTINCT ON (n.row_number) n.row_number, 'Amount', 'OVERLAPS_RECENT_BATCH',
              format('Employee %s was already sent %s for this loan in batch %s (row %s, uploaded %s)',
                     n.employee_id, '$' || to_char(n.amount_cents / 100.0, 'FM999,999,990.00'), o.batch_id, o.row_number,
                     to_char(b.uploaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'))
         FROM batch_lines n
         JOIN batch_lines o ON o.loan_id = n.loan_id AND o.amount_cents = n.amount_cents AND o.batch_id <> n.batch_id
         JOIN batches b ON b.id = o.batch_id AND b.status NOT IN ('rejected', 'cancelled')
                       AND b.uploaded_at > now() - interval '30 days'
        WHERE n.batch_id = $1
        ORDER BY n.row_number, b.uploaded_at DESC`,
      [batchId],
    );

    // The yearly tax-free limit: this file's amounts on top of what approved batches of the year hold.
    await tx.query(
      `WITH prior AS (
         SELECT l.employee_id, sum(l.amount_cents) AS cents
           FROM batch_lines l JOIN batches b ON b.id = l.batch_id
          WHERE b.approved_at IS NOT NULL AND b.id <> $1
            AND date_trunc('year', b.approved_at) = date_trunc('year', now())
            AND l.employee_id IN (SELECT employee_id FROM ingest_employees)
          GROUP BY l.employee_id
       ), running AS (
         SELECT n.row_number, n.employee_id, coalesce(p.cents, 0) AS prior_cents,
                coalesce(p.cents, 0) + sum(n.amount_cents) OVER (PARTITION BY n.employee_id ORDER BY n.row_number) AS total,
                coalesce(p.cents, 0) + sum(n.amount_cents) OVER (PARTITION BY n.employee_id) AS year_total
           FROM batch_lines n LEFT JOIN prior p USING (employee_id)
          WHERE n.batch_id = $1
       )
       INSERT INTO ingest_warnings
       SELECT DISTINCT ON (employee_id) row_number, 'Amount', 'ANNUAL_LIMIT_EXCEEDED',
              format('Employee %s would receive %s this calendar year (%s already approved), above the %s limit',
                     employee_id, '$' || to_char(year_total / 100.0, 'FM999,999,990.00'),
                     '$' || to_char(prior_cents / 100.0, 'FM999,999,990.00'),
                     '$' || to_char($2::bigint / 100.0, 'FM999,999,990.00'))
         FROM running WHERE total > $2
        ORDER BY employee_id, row_number`,
      [batchId, this.deps.annualLimitCents],
    );

    await tx.query(
      `INSERT INTO batch_warnings (batch_id, seq, row_number, field, code, message)
       SELECT $1, row_number() OVER (ORDER BY row_number, code, field), row_number, field, code, message FROM ingest_warnings`,
      [batchId],
    );
    await tx.query(
      `UPDATE batch_lines l SET flags = l.flags || w.codes
         FROM (SELECT row_number, array_agg(DISTINCT code ORDER BY code) AS codes FROM ingest_warnings GROUP BY row_number) w
        WHERE l.batch_id = $1 AND l.row_number = w.row_number`,
      [batchId],
    );

    // Both summaries in one pass over the staged rows (the lines hold the same rows; the staging
    // table is smaller and already in memory).
    await tx.query(
      `INSERT INTO batch_totals (batch_id, dimension, key, employee_count, payment_count, total_cents)
       SELECT $1, CASE WHEN GROUPING(r.source_id) = 0 THEN 'source' ELSE 'branch' END,
              coalesce(r.source_id, e.branch_id), count(DISTINCT r.employee_id), count(*), sum(r.amount_cents)
         FROM ingest_rows r JOIN ingest_employees e USING (employee_id)
        GROUP BY GROUPING SETS ((r.source_id), (e.branch_id))`,
      [batchId],
    );

    const counts = await tx.query(
      `SELECT count(*) FILTER (WHERE is_new)::int AS new_employees, count(*) FILTER (WHERE is_changed)::int AS changed_employees,
              (SELECT count(*)::int FROM ingest_new_loans) AS new_loans
         FROM ingest_employees`,
    );
    const changes = {
      newEmployees: counts.rows[0].new_employees,
      newLoanAccounts: counts.rows[0].new_loans,
      changedEmployees: counts.rows[0].changed_employees,
      changedSources,
    };
    await tx.query('UPDATE batches SET changes = $2 WHERE id = $1', [batchId, JSON.stringify(changes)]);
    await recordAudit(tx, input.actor, 'batch.upload', 'batch', batchId, {
      fileName: input.fileName,
      rowCount: f.rowCount,
      totalCents: f.totalCents,
      fileSha256: f.fileSha256,
      changes,
    });
    return batchId;
  }
}

/** Known refusals become AppErrors; a race on the live-digest index is a duplicate too. */
function asAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof XmlError)
    return new AppError('XML_MALFORMED', err.message, { line: err.line, column: err.column });
  const pgErr = err as { code?: string; constraint?: string };
  if (pgErr.code === '23505' && pgErr.constraint === 'batches_rows_digest_live_key') {
    return new AppError('DUPLICATE_FILE', 'These rows were uploaded at the same moment by another request');
  }
  throw err;
}
