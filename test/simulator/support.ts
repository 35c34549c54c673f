// Starts the Method simulator on an ephemeral port against a fresh empty test database, with a
// client pointed at it, and builds the objects a payment needs (payor, employee, accounts).
import { afterAll, expect } from 'vitest';
import {
  MethodClient,
  type MethodOutcome,
  newIdempotencyKey,
  resolvePayableMerchant,
} from '../../src/method/client.js';
import type { Account, Entity } from '../../src/method/types.js';
import type { Faults } from '../../src/simulator/faults.js';
import {
  type RunningSimulator,
  type StartSimulatorOptions,
  startSimulator,
} from '../../src/simulator/start.js';
import { createEmptyDatabase, type TestDatabase } from '../support/db.js';

export const API_KEY = 'sk_test_loanpay';
export const METHOD_VERSION = '2025-07-04';

export interface TestSimulator {
  db: TestDatabase;
  sim: RunningSimulator;
  client: MethodClient;
  url: string;
  setFaults(f: Partial<Faults>): Promise<void>;
  clearFaults(): Promise<void>;
  stats(): Promise<Record<string, unknown>>;
}

export async function startTestSimulator(
  opts: Partial<Omit<StartSimulatorOptions, 'pool' | 'databaseUrl'>> & {
    db?: TestDatabase;
    clientTimeoutMs?: number;
  } = {},
): Promise<TestSimulator> {
  const db = opts.db ?? (await createEmptyDatabase());
  const sim = await startSimulator({
    pool: db.pool,
    port: 0,
    paymentsPerMinute: 0,
    // Payments stay put unless a test asks them to move.
    stepMs: 3_600_000,
    webhookRetryBaseMs: 20,
    logger: false,
    ...opts,
  });
  const client = new MethodClient({
    baseUrl: sim.url,
    apiKey: API_KEY,
    version: METHOD_VERSION,
    timeoutMs: opts.clientTimeoutMs ?? 5_000,
  });
  afterAll(async () => {
    await client.close();
    await sim.close();
  });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${sim.url}${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    return res.json() as Promise<Record<string, unknown>>;
  };
  return {
    db,
    sim,
    client,
    url: sim.url,
    setFaults: async (f) => {
      await call('PUT', '/simulator/faults', f);
    },
    clearFaults: async () => {
      await call('DELETE', '/simulator/faults');
    },
    stats: () => call('GET', '/simulator/stats'),
  };
}

export function expectOk<T>(o: MethodOutcome<T>): T {
  if (o.kind !== 'ok') expect.fail(`expected ok, got ${JSON.stringify(o)}`);
  return o.data;
}

export interface PayableSetup {
  payor: Entity;
  employee: Entity;
  source: Account;
  destination: Account;
}

/** The objects LoanPay creates for one row: an active payor with an ACH source, an active employee with a loan. */
export async function createPayable(
  client: MethodClient,
  opts: { plaidId?: string; loanNumber?: string; payor?: Entity; source?: Account } = {},
): Promise<PayableSetup> {
  const payor =
    opts.payor ??
    expectOk(
      await client.createEntity(
        {
          type: 'corporation',
          corporation: { name: "Dunkin' Donuts LLC", dba: "Dunkin' Donuts", ein: '32120240' },
          address: { line1: '999 Hayes Lights', city: 'Kerlukemouth', state: 'IA', zip: '67485' },
        },
        newIdempotencyKey(),
      ),
    );
  const source =
    opts.source ??
    expectOk(
      await client.createAccount(
        { holder_id: payor.id, ach: { routing: '547414133', number: '93785544', type: 'checking' } },
        newIdempotencyKey(),
      ),
    );
  const created = expectOk(
    await client.createEntity(
      {
        type: 'individual',
        individual: { first_name: 'Aaliyah', last_name: 'Auer', phone: '+15524130922', dob: '1999-01-30' },
      },
      newIdempotencyKey(),
    ),
  );
  expectOk(
    await client.createEntityVerificationSession(
      created.id,
      { type: 'phone', method: 'byo_sms', byo_sms: { timestamp: '2021-09-01T00:00:00.000Z' } },
      newIdempotencyKey(),
    ),
  );
  expectOk(
    await client.createEntityVerificationSession(
      created.id,
      { type: 'identity', method: 'kba', kba: {} },
      newIdempotencyKey(),
    ),
  );
  const employee = expectOk(await client.getEntity(created.id));
  const merchant = await resolvePayableMerchant(client, opts.plaidId ?? 'ins_116861');
  if (merchant.kind !== 'payable') expect.fail(`merchant not payable: ${JSON.stringify(merchant)}`);
  const destination = expectOk(
    await client.createAccount(
      {
        holder_id: employee.id,
        liability: { mch_id: merchant.merchantId, account_number: opts.loanNumber ?? '33508510' },
      },
      newIdempotencyKey(),
    ),
  );
  return { payor, employee, source, destination };
}

export interface Receipt {
  path: string;
  payload: {
    webhook_id: string;
    id: string;
    type: string;
    op: string;
    path: string;
    event: string;
    refs: Record<string, string>;
  };
  verified: boolean;
}

/** A local webhook receiver: records every delivery and checks Method's signature headers. */
export async function startReceiver(opts: { authToken: string; hmacSecret: string }): Promise<{
  url: string;
  receipts: Receipt[];
  /** Answers with this status for paths starting with `/fail`. */
  failStatus: number;
}> {
  const { createServer } = await import('node:http');
  const { verifyWebhook } = await import('../../src/method/webhook-signature.js');
  const receipts: Receipt[] = [];
  const state = { url: '', receipts, failStatus: 500 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const verified = verifyWebhook({
        headers: req.headers,
        rawBody,
        authToken: opts.authToken,
        hmacSecret: opts.hmacSecret,
      }).ok;
      receipts.push({ path: req.url ?? '', payload: JSON.parse(rawBody), verified });
      res.statusCode = req.url?.startsWith('/fail') ? state.failStatus : 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  state.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  return state;
}

/** Polls until `check` returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
