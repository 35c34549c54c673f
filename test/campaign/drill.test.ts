// The drill (`npm run drill`, bench/drill.ts) at CI size: the same code — its own embedded
// PostgreSQL, the simulator and a worker in their own processes, upload and approval over HTTP,
// reversals approved by a person, a reconciliation run — at a few hundred rows under the same fault
// mix, with a faster simulator clock, shorter timeouts and a more eager poller so it ends in CI time.
// It must end settled with no difference between the file, LoanPay, the ledger and Method.
import { describe, expect, it } from 'vitest';
import { DRILL_FAULTS, runDrill } from '../../bench/drill.js';

describe('the drill at CI size', () => {
  it('300 rows under the realistic fault mix: settled, zero differences', async () => {
    const lines: string[] = [];
    const r = await runDrill({
      rows: 300,
      employees: 60,
      seed: 7,
      faults: DRILL_FAULTS,
      stepMs: 300,
      clientTimeoutMs: 2000,
      workerProcesses: 1,
      leaseMs: 10_000,
      pollEveryMs: 500,
      pollStaleMs: 1000,
      backoff: { baseMs: 200, capMs: 2000 },
      timeoutMs: 140_000,
      progressEveryMs: 5000,
      log: (l) => lines.push(l),
    });
    console.log(`${lines.join('\n')}\n${r.text}`);
    expect(r.settled, 'every payment final or in needs-review, Method done').toBe(true);
    expect(r.differences).toEqual([]);
    expect(r.file.n).toBe(300);
    const total = Object.values(r.byStatus).reduce((a, t) => a + t.n, 0);
    expect(total).toBe(300);
    // The weather did reach the rows: Method holds a payment for every payable row.
    expect(r.method.created).toBeGreaterThan(200);
  }, 200_000);
});
