// The faults in force (api.md `PUT /simulator/faults`): parsing, merging and the random draws.
// Faults live in memory, starting from SIMULATOR_FAULTS at each start.

export interface Faults {
  /** 5xx instead of an answer; not applied, and stored under the idempotency key as Method does. */
  errorRate: number;
  /** 429 TOO_MANY_REQUESTS, not applied. */
  rateLimitRate: number;
  /** Applied and committed, but the answer is held past the client's timeout. */
  timeoutRate: number;
  /** Applied and committed, then the connection is destroyed with no answer. */
  lostResponseRate: number;
  /** 503 IDEMPOTENCY_UNAVAILABLE on a request carrying a key, not applied. */
  idempotencyUnavailableRate: number;
  /** Added before every Method API answer. */
  latencyMs: number;
  /** Payments that fail before `sent` (10001 insufficient funds). */
  failPaymentRate: number;
  /** Payments `failed` with 10009 after `sent` (refused by the loan servicer). */
  returnRate: number;
  /** Payments `reversal_required` after `sent`; `settled` once the reversal is approved. */
  reversalRate: number;
  webhookDropRate: number;
  webhookDuplicateRate: number;
  /** Extension: how long a "timed out" answer is held (default 30 s). */
  timeoutHoldMs: number;
}

const RATES = [
  'errorRate',
  'rateLimitRate',
  'timeoutRate',
  'lostResponseRate',
  'idempotencyUnavailableRate',
  'failPaymentRate',
  'returnRate',
  'reversalRate',
  'webhookDropRate',
  'webhookDuplicateRate',
] as const;
const DURATIONS = ['latencyMs', 'timeoutHoldMs'] as const;

export type RateFault = (typeof RATES)[number];

export const NO_FAULTS: Faults = {
  errorRate: 0,
  rateLimitRate: 0,
  timeoutRate: 0,
  lostResponseRate: 0,
  idempotencyUnavailableRate: 0,
  latencyMs: 0,
  failPaymentRate: 0,
  returnRate: 0,
  reversalRate: 0,
  webhookDropRate: 0,
  webhookDuplicateRate: 0,
  timeoutHoldMs: 30_000,
};

export class FaultInputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** Validates a partial faults object; unknown keys and out-of-range values are refused. */
export function parseFaults(input: unknown): Partial<Faults> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new FaultInputError(['faults must be a JSON object']);
  }
  const problems: string[] = [];
  const out: Partial<Faults> = {};
  for (const [key, value] of Object.entries(input)) {
    if ((RATES as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1))
        problems.push(`${key} must be a number from 0 to 1`);
      else out[key as RateFault] = value;
    } else if ((DURATIONS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 600_000) {
        problems.push(`${key} must be a whole number of milliseconds from 0 to 600000`);
      } else out[key as (typeof DURATIONS)[number]] = value;
    } else {
      problems.push(`unknown fault ${key}`);
    }
  }
  if (problems.length) throw new FaultInputError(problems);
  return out;
}

export class FaultController {
  private current: Faults;

  constructor(
    initial: Partial<Faults> = {},
    private readonly random: () => number = Math.random,
  ) {
    this.current = { ...NO_FAULTS, ...initial };
  }

  get(): Faults {
    return { ...this.current };
  }

  merge(partial: Partial<Faults>): Faults {
    this.current = { ...this.current, ...partial };
    return this.get();
  }

  clear(): Faults {
    this.current = { ...NO_FAULTS };
    return this.get();
  }

  /** One independent draw for a rate fault. */
  fires(kind: RateFault): boolean {
    const rate = this.current[kind];
    return rate > 0 && this.random() < rate;
  }

  /**
   * What the lifecycle will do with a new payment. One draw: the rates are read as shares of new
   * payments, in the order fail, return, reversal (their sum above 1 starves the later ones).
   */
  drawFate(): 'post' | 'fail' | 'return' | 'reverse' {
    const { failPaymentRate: f, returnRate: r, reversalRate: v } = this.current;
    if (f + r + v === 0) return 'post';
    const x = this.random();
    if (x < f) return 'fail';
    if (x < f + r) return 'return';
    if (x < f + r + v) return 'reverse';
    return 'post';
  }
}
