import { describe, expect, it } from 'vitest';
import { GroupWriter } from '../../src/server/group-commit.js';

/** A write that waits until released, recording which items each call got. */
function gatedWriter() {
  const calls: number[][] = [];
  const gates: (() => void)[] = [];
  const write = async (items: number[]) => {
    calls.push(items);
    await new Promise<void>((r) => gates.push(r));
    if (items.includes(-1)) throw new Error('write failed');
    return items.map((i) => i * 10);
  };
  const release = async () => {
    gates.shift()?.();
    await new Promise((r) => setImmediate(r));
  };
  return { calls, write, release };
}

describe('GroupWriter', () => {
  it('writes a lone item at once, and groups what arrives while writes are in flight', async () => {
    const g = gatedWriter();
    const w = new GroupWriter(g.write, { maxBatch: 3, maxInFlight: 1 });
    const first = w.add(1);
    expect(g.calls).toEqual([[1]]);
    const rest = [2, 3, 4, 5].map((i) => w.add(i));
    expect(g.calls).toEqual([[1]]); // one write in flight: the others wait for it
    await g.release();
    expect(await first).toBe(10);
    expect(g.calls).toEqual([[1], [2, 3, 4]]); // at most maxBatch together
    await g.release();
    await g.release();
    expect(g.calls).toEqual([[1], [2, 3, 4], [5]]);
    expect(await Promise.all(rest)).toEqual([20, 30, 40, 50]); // each caller its own result
  });

  it('runs up to maxInFlight writes at once', async () => {
    const g = gatedWriter();
    const w = new GroupWriter(g.write, { maxBatch: 10, maxInFlight: 2 });
    const all = [1, 2, 3].map((i) => w.add(i));
    expect(g.calls).toEqual([[1], [2]]);
    await g.release();
    expect(g.calls).toEqual([[1], [2], [3]]);
    await g.release();
    await g.release();
    expect(await Promise.all(all)).toEqual([10, 20, 30]);
  });

  it('fails every caller of a failed write, and only those; the next write goes on', async () => {
    const g = gatedWriter();
    const w = new GroupWriter(g.write, { maxBatch: 10, maxInFlight: 1 });
    const a = w.add(1);
    const b = expect(w.add(-1)).rejects.toThrow('write failed');
    const c = expect(w.add(2)).rejects.toThrow('write failed'); // written with the failing item
    await g.release();
    expect(await a).toBe(10);
    await g.release();
    await b;
    await c;
    const d = w.add(3);
    await g.release();
    expect(await d).toBe(30);
  });
});
