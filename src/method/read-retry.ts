// Reads (GET) change nothing at Method, so any retryable or ambiguous outcome may simply be asked
// again: capped, jittered exponential backoff, honouring Retry-After. Used where one failed read
// would fail a whole job (the reconciliation lists every payment of every source account).
import type { MethodOutcome } from './client.js';

export interface ReadRetryOptions {
  /** Tries in all, the first included. */
  attempts?: number;
  baseMs?: number;
  maxMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export async function readWithRetry<T>(
  read: () => Promise<MethodOutcome<T>>,
  opts: ReadRetryOptions = {},
): Promise<MethodOutcome<T>> {
  const attempts = opts.attempts ?? 8;
  const base = opts.baseMs ?? 200;
  const max = opts.maxMs ?? 10_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let outcome = await read();
  for (let i = 1; i < attempts && (outcome.kind === 'retryable' || outcome.kind === 'ambiguous'); i++) {
    const backoff = Math.min(max, base * 2 ** (i - 1));
    const wait =
      outcome.kind === 'retryable' && outcome.retryAfterMs !== undefined
        ? Math.max(outcome.retryAfterMs, backoff)
        : backoff / 2 + Math.random() * (backoff / 2);
    await sleep(wait);
    outcome = await read();
  }
  return outcome;
}
