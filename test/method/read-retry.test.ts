// readWithRetry: reads that Method answered with a retryable or ambiguous outcome are asked again
// with backoff (Retry-After honoured); answers, definite failures and the last try are returned.
import { describe, expect, it } from 'vitest';
import type { MethodOutcome } from '../../src/method/client.js';
import { readWithRetry } from '../../src/method/read-retry.js';

const ok: MethodOutcome<string> = { kind: 'ok', status: 200, data: 'x', idemStatus: null, requestId: null };
const lost: MethodOutcome<string> = { kind: 'ambiguous', reason: 'connection_dropped' };
const busy: MethodOutcome<string> = {
  kind: 'retryable',
  reason: 'rate_limited',
  status: 429,
  retryAfterMs: 1500,
};
const notFound = {
  kind: 'definite_failure',
  status: 404,
  error: { type: 'NOT_FOUND', code: 404, message: 'no such payment' },
  idemStatus: null,
} as unknown as MethodOutcome<string>;

function script(...outcomes: MethodOutcome<string>[]) {
  const calls: number[] = [];
  const waits: number[] = [];
  const read = async () => {
    calls.push(calls.length);
    return outcomes[Math.min(calls.length - 1, outcomes.length - 1)]!;
  };
  const sleep = async (ms: number) => {
    waits.push(ms);
  };
  return { read, sleep, calls, waits };
}

describe('readWithRetry', () => {
  it('asks again after lost answers and returns the first answer', async () => {
    const s = script(lost, lost, ok);
    expect(await readWithRetry(s.read, { sleep: s.sleep })).toEqual(ok);
    expect(s.calls).toHaveLength(3);
    expect(s.waits).toHaveLength(2);
    expect(s.waits[1]!).toBeGreaterThanOrEqual(s.waits[0]! / 2);
  });

  it('waits at least what Retry-After says', async () => {
    const s = script(busy, ok);
    expect(await readWithRetry(s.read, { sleep: s.sleep })).toEqual(ok);
    expect(s.waits).toEqual([1500]);
  });

  it('does not repeat a definite failure', async () => {
    const s = script(notFound, ok);
    expect(await readWithRetry(s.read, { sleep: s.sleep })).toEqual(notFound);
    expect(s.calls).toHaveLength(1);
  });

  it('gives up after the tries it was given, returning the last outcome', async () => {
    const s = script(lost);
    expect(await readWithRetry(s.read, { sleep: s.sleep, attempts: 5, baseMs: 100, maxMs: 400 })).toEqual(
      lost,
    );
    expect(s.calls).toHaveLength(5);
    expect(Math.max(...s.waits)).toBeLessThanOrEqual(400);
  });
});
