// `COPY (SELECT …) TO STDOUT` read through node-postgres' Submittable interface (the one
// pg-copy-streams uses): PostgreSQL sends one CopyData message per row, in its text format, which
// costs one string and one split here instead of one decoded string per field and a result object
// per row (less than half the client CPU of a SELECT for a 50k-row report). Rows are handed over in
// batches; when the consumer falls behind, the connection's socket is paused, so memory stays flat
// whatever the size of the result.
import type { PoolClient } from '../db.js';

/** A row's fields as PostgreSQL's COPY text format gives them: SQL NULL is `null`. */
export type CopyFields = (string | null)[];

export interface CopyOutOptions {
  /** Rows per batch handed to the consumer. */
  batchRows?: number;
  /** Batches held for the consumer before the socket is paused. */
  maxQueued?: number;
}

interface PausableStream {
  pause(): unknown;
  resume(): unknown;
}

// The parts of pg's Connection this uses (pg calls submit(connection) when the query's turn comes).
interface PgConnection {
  stream: PausableStream;
  query(text: string): void;
  sendCopyFail(message: string): void;
}

// The COPY each connection is running, from submit() to its end: inSnapshot asks, to decide
// whether a download left midway needs its statement cancelled.
const inFlight = new WeakMap<object, unknown>();

/** Whether a copyOut on `db` has been issued and PostgreSQL has not yet finished it. */
export function copyInFlight(db: PoolClient): boolean {
  return inFlight.has(db);
}

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/**
 * One field of COPY's text output back to its value: `\N` is NULL; PostgreSQL escapes only a
 * backslash, the delimiter and the control characters \b \f \n \r \t \v on output.
 */
export function decodeCopyField(field: string): string | null {
  if (field === '\\N') return null;
  if (!field.includes('\\')) return field;
  return field.replace(/\\(.)/gs, (_m, ch: string) => ESCAPES[ch] ?? ch);
}

class CopyOutQuery<T> {
  batches: T[][] = [];
  error: Error | null = null;
  /** No more messages will come for this query (ReadyForQuery or an error). */
  ended = false;
  private batch: T[] = [];
  private stream: PausableStream | null = null;
  private paused = false;
  private discard = false;
  private wake: (() => void) | null = null;

  constructor(
    readonly text: string,
    private readonly toRow: (fields: CopyFields) => T,
    private readonly batchRows: number,
    private readonly maxQueued: number,
    private readonly onEnd: () => void = () => {},
  ) {}

  // --- node-postgres Submittable ---
  submit(connection: PgConnection): Error | undefined {
    // An error returned here is handed back through handleError (pg's contract).
    if (typeof connection.stream?.pause !== 'function') {
      return new Error('copyOut needs a node-postgres connection with a pausable socket');
    }
    this.stream = connection.stream;
    connection.query(this.text);
    return undefined;
  }

  handleCopyData(msg: { chunk: Buffer }): void {
    if (this.discard || this.error) return;
    // One row, ended by a newline; tabs inside values are escaped, so split is exact.
    const line = msg.chunk.toString('utf8', 0, msg.chunk.length - 1);
    const fields: CopyFields = line.split('\t');
    if (line.includes('\\'))
      for (let i = 0; i < fields.length; i++) fields[i] = decodeCopyField(fields[i] as string);
    try {
      this.batch.push(this.toRow(fields));
    } catch (err) {
      // Stop handing rows over; the query runs to its end (discarded) and the consumer gets this.
      this.error = err as Error;
      this.discard = true;
      this.resume();
      this.notify();
      return;
    }
    if (this.batch.length >= this.batchRows) this.flush();
  }

  handleCommandComplete(): void {
    if (this.batch.length > 0) this.flush();
  }

  handleReadyForQuery(): void {
    this.ended = true;
    this.onEnd();
    this.notify();
  }

  handleError(err: Error): void {
    this.error ??= err;
    this.ended = true;
    this.onEnd();
    this.resume();
    this.notify();
  }

  handleRowDescription(): void {
    this.error ??= new Error('copyOut: the statement is not a COPY … TO STDOUT');
    this.discard = true;
  }

  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: PgConnection): void {
    connection.sendCopyFail('copyOut reads only');
  }
  // --- end of Submittable ---

  /** Resolves when a batch, the end or an error is there. */
  next(): Promise<void> {
    if (this.batches.length > 0 || this.ended || this.error) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  take(): T[] | undefined {
    const b = this.batches.shift();
    if (this.paused && this.batches.length < this.maxQueued) this.resume();
    return b;
  }

  /** The consumer left: whatever still comes is read and dropped. */
  abandon(): void {
    this.discard = true;
    this.batches = [];
    this.batch = [];
    this.resume();
  }

  private flush(): void {
    this.batches.push(this.batch);
    this.batch = [];
    if (!this.paused && this.batches.length >= this.maxQueued && this.stream) {
      this.stream.pause();
      this.paused = true;
    }
    this.notify();
  }

  private resume(): void {
    if (this.paused && this.stream) {
      this.paused = false;
      this.stream.resume();
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/**
 * Runs `COPY (select) TO STDOUT` (text format, no parameters: the caller builds `sql` from
 * validated values only) on `db` and yields its rows, mapped by `toRow`, in batches. If the
 * consumer stops early the rest of the output is read and dropped, and `db` stays busy until
 * PostgreSQL has finished (or the statement is cancelled): the caller decides whether to cancel
 * and must not give the connection back to the pool for reuse (see inSnapshot).
 */
export async function* copyOut<T>(
  db: PoolClient,
  sql: string,
  toRow: (fields: CopyFields) => T,
  opts: CopyOutOptions = {},
): AsyncGenerator<T[]> {
  const q: CopyOutQuery<T> = new CopyOutQuery(sql, toRow, opts.batchRows ?? 250, opts.maxQueued ?? 2, () => {
    if (inFlight.get(db) === q) inFlight.delete(db);
  });
  inFlight.set(db, q);
  // A Submittable: pg queues it like any query and calls submit() when the connection is free.
  (db as unknown as { query(q: unknown): unknown }).query(q);
  let finished = false;
  try {
    for (;;) {
      await q.next();
      if (q.error) throw q.error;
      const batch = q.take();
      if (batch) {
        yield batch;
        continue;
      }
      if (q.ended) {
        finished = true;
        return;
      }
    }
  } finally {
    if (!finished) q.abandon();
  }
}
