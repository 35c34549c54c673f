// `npm run cli -- <command>`: LoanPay for scripts and schedulers, over the same HTTP API as the web
// UI with a bearer token. Exit codes: 0 done, 1 the server or network said no, 2 bad arguments.
import { createWriteStream, openAsBlob } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const USAGE = `Usage: npm run cli -- <command> [options]

Commands:
  login <username> [--save]          print a token (password from LOANPAY_PASSWORD or typed);
                                     --save keeps it in ~/.config/loanpay/token (mode 0600)
  upload <file.xml>                  upload a payroll file; prints the draft batch
  approve <batchId>                  approve a draft batch (a second person must approve)
  status <batchId> [--watch]         the batch's progress; --watch follows it to a final status
                    [--interval ms]  (polling interval, default 2000)
  report <batchId> <payments|sources|branches> [-o file]
                                     download a CSV report (to stdout without -o)
  reconcile [--wait]                 start a reconciliation run; --wait prints its findings

Environment:
  LOANPAY_URL    the server (default http://127.0.0.1:3000)
  LOANPAY_TOKEN  a bearer token (from "login"); else the token saved by "login --save"

Exit codes: 0 done, 1 refused by the server or unreachable, 2 bad arguments.`;

export interface CliIo {
  stdout: { write(s: string | Uint8Array): unknown };
  stderr: { write(s: string): unknown };
  env: Record<string, string | undefined>;
  /** Redraw the progress bar in place (a terminal) or print a line per change (logs). */
  tty: boolean;
  /** The password for `login` when LOANPAY_PASSWORD is unset. */
  readPassword?: () => Promise<string>;
}

class UsageError extends Error {}
class CliError extends Error {}

const GROUPS = ['paid', 'pending', 'failed', 'returned', 'cancelled'] as const;
const RUNNING_BATCH = new Set(['approved', 'executing', 'paused', 'cancelling']);

interface BatchView {
  id: string;
  status: string;
  fileName?: string;
  rowCount?: number;
  totalCents?: number;
  counts: Record<string, number>;
  amountsCents: Record<string, number>;
  etaSeconds: number | null;
  summary?: { warnings?: { count: number; byCode: Record<string, number> }; unpayable?: { count: number } };
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    await dispatch(argv, io);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof CliError) {
      io.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
}

function parse(argv: string[], options: NonNullable<Parameters<typeof parseArgs>[0]>['options'] = {}) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function dispatch(argv: string[], io: CliIo): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'login': {
      const { positionals, values } = parse(rest, { save: { type: 'boolean' } });
      const [username] = exactly(positionals, 1, 'login <username>');
      return login(io, username!, values.save === true);
    }
    case 'upload': {
      const { positionals } = parse(rest);
      const [file] = exactly(positionals, 1, 'upload <file.xml>');
      return upload(io, file!);
    }
    case 'approve': {
      const { positionals } = parse(rest);
      const [id] = exactly(positionals, 1, 'approve <batchId>');
      const { batch } = await api(io, 'POST', `/api/batches/${batchIdArg(id!)}/approve`);
      io.stdout.write(`approved ${batch.id}: ${batch.status}\n`);
      return;
    }
    case 'status': {
      const { positionals, values } = parse(rest, {
        watch: { type: 'boolean', short: 'w' },
        interval: { type: 'string' },
      });
      const [id] = exactly(positionals, 1, 'status <batchId>');
      const interval = values.interval === undefined ? 2000 : Number(values.interval);
      if (!Number.isInteger(interval) || interval < 50) throw new UsageError('--interval must be ≥ 50 ms');
      return status(io, batchIdArg(id!), values.watch === true, interval);
    }
    case 'report': {
      const { positionals, values } = parse(rest, { output: { type: 'string', short: 'o' } });
      const [id, kind] = exactly(positionals, 2, 'report <batchId> <payments|sources|branches>');
      if (!['payments', 'sources', 'branches'].includes(kind!))
        throw new UsageError(`unknown report "${kind}": use payments, sources or branches`);
      return report(io, batchIdArg(id!), kind!, values.output as string | undefined);
    }
    case 'reconcile': {
      const { positionals, values } = parse(rest, { wait: { type: 'boolean' } });
      exactly(positionals, 0, 'reconcile');
      return reconcile(io, values.wait === true);
    }
    case 'help':
    case '--help':
    case '-h':
      io.stdout.write(`${USAGE}\n`);
      return;
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function exactly(positionals: string[], n: number, shape: string): string[] {
  if (positionals.length !== n) throw new UsageError(`expected: ${shape}`);
  return positionals;
}

function batchIdArg(id: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
    throw new UsageError(`"${id}" is not a batch id (a UUID)`);
  return id;
}

// --- HTTP ---------------------------------------------------------------------------------------

function baseUrl(io: CliIo): string {
  return (io.env.LOANPAY_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
}

function tokenFile(io: CliIo): string {
  const dir = io.env.XDG_CONFIG_HOME ?? path.join(io.env.HOME ?? os.homedir(), '.config');
  return path.join(dir, 'loanpay', 'token');
}

async function token(io: CliIo): Promise<string> {
  if (io.env.LOANPAY_TOKEN) return io.env.LOANPAY_TOKEN;
  try {
    return (await readFile(tokenFile(io), 'utf8')).trim();
  } catch {
    throw new CliError('not logged in: set LOANPAY_TOKEN, or run "login <username> [--save]"');
  }
}

async function request(
  io: CliIo,
  method: string,
  route: string,
  init: { body?: Blob | string; headers?: Record<string, string>; auth?: boolean; signal?: AbortSignal } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.auth !== false) headers.authorization = `Bearer ${await token(io)}`;
  const url = `${baseUrl(io)}${route}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: init.body,
      signal: init.signal,
    } as RequestInit);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(
      `cannot reach ${baseUrl(io)}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
    );
  }
  if (!res.ok) throw await httpError(res, method, route);
  return res;
}

/** The API's own error message, with the details a person needs to act on. */
async function httpError(res: Response, method: string, route: string): Promise<CliError> {
  const text = await res.text().catch(() => '');
  let body: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: fall back to the status line below
  }
  const e = body.error;
  if (!e?.message) return new CliError(`${method} ${route} → HTTP ${res.status} ${text.slice(0, 200)}`);
  let msg = `${e.message} (${e.code ?? res.status})`;
  const d = e.details ?? {};
  if (typeof d.batchId === 'string') msg += `\n  existing batch: ${d.batchId}`;
  if (Array.isArray(d.errors)) {
    const errors = d.errors as { row?: number; field?: string; message?: string }[];
    for (const x of errors.slice(0, 20))
      msg += `\n  row ${x.row ?? '?'} ${x.field ?? ''}: ${x.message ?? ''}`;
    const total = typeof d.errorCount === 'number' ? d.errorCount : errors.length;
    if (total > 20) msg += `\n  … and ${total - 20} more`;
  }
  return new CliError(msg);
}

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies of the API, read field by field below
async function api(io: CliIo, method: string, route: string, body?: unknown): Promise<any> {
  const res = await request(io, method, route, {
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
  });
  return res.json();
}

// --- commands -----------------------------------------------------------------------------------

async function login(io: CliIo, username: string, save: boolean): Promise<void> {
  const password = io.env.LOANPAY_PASSWORD ?? (await io.readPassword?.());
  if (!password) throw new CliError('no password: set LOANPAY_PASSWORD or run in a terminal');
  const res = await request(io, 'POST', '/api/auth/login', {
    auth: false,
    body: JSON.stringify({ username, password }),
    headers: { 'content-type': 'application/json' },
  });
  const { token: t, user } = (await res.json()) as { token: string; user: { role: string } };
  if (save) {
    const file = tokenFile(io);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, `${t}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    io.stderr.write(`logged in as ${username} (${user.role}); token saved in ${file}\n`);
  } else {
    io.stderr.write(`logged in as ${username} (${user.role}); nothing was saved — export the token:\n`);
    io.stdout.write(`export LOANPAY_TOKEN=${t}\n`);
  }
}

async function upload(io: CliIo, file: string): Promise<void> {
  try {
    if (!(await stat(file)).isFile()) throw new Error('not a file');
  } catch {
    throw new UsageError(`cannot read ${file}`);
  }
  // A Blob backed by the file: streamed from disk, never read whole into memory.
  const body = await openAsBlob(file, { type: 'application/xml' });
  const res = await request(io, 'POST', '/api/batches', {
    body,
    headers: { 'content-type': 'application/xml', 'x-file-name': path.basename(file) },
  });
  const { batch } = (await res.json()) as { batch: BatchView };
  io.stdout.write(`${batch.id}\n`);
  const w = batch.summary?.warnings;
  io.stderr.write(
    `batch ${batch.id}: ${batch.status}, ${batch.rowCount} rows, $${dollars(batch.totalCents ?? 0)}` +
      (w?.count
        ? `, ${w.count} warnings (${Object.entries(w.byCode)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')})`
        : ', no warnings') +
      '\n',
  );
}

async function report(io: CliIo, id: string, kind: string, out: string | undefined): Promise<void> {
  const res = await request(io, 'GET', `/api/batches/${id}/reports/${kind}.csv`);
  if (!res.body) throw new CliError('the server sent an empty report');
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  if (out) {
    await pipeline(body, createWriteStream(out));
    io.stderr.write(`wrote ${out}\n`);
  } else {
    for await (const chunk of body) io.stdout.write(chunk as Uint8Array);
  }
}

async function reconcile(io: CliIo, wait: boolean): Promise<void> {
  let started: { run: { id: string; status: string } };
  try {
    started = await api(io, 'POST', '/api/reconciliation/run');
  } catch (err) {
    if (err instanceof CliError && /No route POST/.test(err.message))
      throw new CliError('this LoanPay server has no reconciliation endpoint (POST /api/reconciliation/run)');
    throw err;
  }
  io.stdout.write(`${started.run.id}\n`);
  if (!wait) {
    io.stderr.write(`reconciliation ${started.run.id} started\n`);
    return;
  }
  for (;;) {
    const { run } = await api(io, 'GET', `/api/reconciliation/runs/${started.run.id}`);
    if (run.status !== 'running') {
      const findings: {
        check: string;
        entityType: string;
        entityId: string;
        differenceCents?: number;
        repaired?: boolean;
      }[] = run.findings ?? [];
      io.stderr.write(`reconciliation ${run.id}: ${run.status}, ${findings.length} findings\n`);
      for (const f of findings) {
        io.stdout.write(
          `${f.check}\t${f.entityType}\t${f.entityId}\t${f.differenceCents ?? ''}\t${f.repaired ? 'repaired' : ''}\n`,
        );
      }
      if (run.status === 'failed') throw new CliError(`reconciliation ${run.id} failed`);
      return;
    }
    await sleep(1000);
  }
}

// --- status and the progress bar ----------------------------------------------------------------

export function progressLine(b: Pick<BatchView, 'status' | 'counts' | 'etaSeconds'>, width = 30): string {
  const total = GROUPS.reduce((a, g) => a + (b.counts[g] ?? 0), 0);
  const done = total - (b.counts.pending ?? 0);
  const ratio = total === 0 ? 0 : done / total;
  const filled = Math.round(ratio * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const groups = GROUPS.map((g) => `${g} ${b.counts[g] ?? 0}`).join(' · ');
  const eta = b.etaSeconds && RUNNING_BATCH.has(b.status) ? ` · eta ${formatSeconds(b.etaSeconds)}` : '';
  return `${b.status.padEnd(25)} ${bar} ${String(Math.floor(ratio * 100)).padStart(3)}% ${done}/${total} · ${groups}${eta}`;
}

async function status(io: CliIo, id: string, watch: boolean, interval: number): Promise<void> {
  let last = '';
  const show = (b: BatchView, final: boolean) => {
    const line = progressLine(b);
    if (io.tty) io.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
    else if (line !== last || final) io.stderr.write(`${line}\n`);
    last = line;
  };
  const first: BatchView = await api(io, 'GET', `/api/batches/${id}`);
  const settled = (b: BatchView) => !RUNNING_BATCH.has(b.status);
  if (!watch || settled(first)) {
    show(first, true);
    printAmounts(io, first);
    return;
  }
  show(first, false);
  const final = (await followEvents(io, id, show, settled)) ?? (await poll(io, id, interval, show, settled));
  show(final, true);
  printAmounts(io, final);
}

function printAmounts(io: CliIo, b: BatchView): void {
  io.stdout.write(
    `${b.id}\t${b.status}\t${GROUPS.map((g) => `${g}=${b.counts[g] ?? 0}/$${dollars(b.amountsCents[g] ?? 0)}`).join('\t')}\n`,
  );
}

async function poll(
  io: CliIo,
  id: string,
  interval: number,
  show: (b: BatchView, final: boolean) => void,
  settled: (b: BatchView) => boolean,
): Promise<BatchView> {
  for (;;) {
    await sleep(interval);
    const b: BatchView = await api(io, 'GET', `/api/batches/${id}`);
    if (settled(b)) return b;
    show(b, false);
  }
}

/**
 * Follows GET /api/batches/:id/events (Server-Sent Events) when the server has it; null when it
 * does not (the caller polls instead). Returns the batch once it settles.
 */
async function followEvents(
  io: CliIo,
  id: string,
  show: (b: BatchView, final: boolean) => void,
  settled: (b: BatchView) => boolean,
): Promise<BatchView | null> {
  const abort = new AbortController();
  let res: Response;
  try {
    res = await request(io, 'GET', `/api/batches/${id}/events`, {
      headers: { accept: 'text/event-stream' },
      signal: abort.signal,
    });
  } catch (err) {
    if (err instanceof CliError && /No route GET/.test(err.message)) return null;
    throw err;
  }
  if (!res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    abort.abort();
    return null;
  }
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end = buffer.search(/\r?\n\r?\n/);
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        const event = /^event:\s*(.*)$/m.exec(block)?.[1]?.trim() ?? 'message';
        const data = [...block.matchAll(/^data:\s?(.*)$/gm)].map((m) => m[1]).join('\n');
        if (event === 'progress' && data) {
          const b = { id, ...JSON.parse(data) } as BatchView;
          if (settled(b)) return b;
          show(b, false);
        }
        end = buffer.search(/\r?\n\r?\n/);
      }
    }
  } finally {
    abort.abort();
  }
  // The stream ended without a final status (server restart): carry on by polling.
  return null;
}

// --- small helpers ------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function dollars(cents: number): string {
  const abs = Math.abs(cents);
  const whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${cents < 0 ? '-' : ''}${whole}.${String(abs % 100).padStart(2, '0')}`;
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(s % 60).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Reads a password from the terminal without echoing it. */
async function readPasswordFromTty(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = '';
    for await (const chunk of stdin) text += chunk;
    return text.split(/\r?\n/)[0] ?? '';
  }
  process.stderr.write('password: ');
  stdin.setRawMode(true);
  stdin.resume();
  let pw = '';
  return new Promise((resolve, reject) => {
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(pw);
          return;
        }
        if (ch === '\u0003') {
          finish();
          reject(new CliError('cancelled'));
          return;
        }
        if (ch === '\u007f') pw = pw.slice(0, -1);
        else pw += ch;
      }
    };
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    tty: process.stderr.isTTY === true,
    readPassword: readPasswordFromTty,
  }).then((code) => {
    process.exitCode = code;
  });
}
