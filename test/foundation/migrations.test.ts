import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/server/migrate.js';
import { createEmptyDatabase } from '../support/db.js';

describe('migrations', () => {
  it('apply on an empty database, then again as a no-op', async () => {
    const db = await createEmptyDatabase();
    const first = await migrate(db.pool);
    expect(first.applied.length).toBeGreaterThan(0);
    expect(first.applied[0]).toBe('001_foundation.sql');
    const second = await migrate(db.pool);
    expect(second.applied).toEqual([]);
    expect(second.skipped).toEqual(first.applied);
    const { rows } = await db.pool.query('SELECT name FROM schema_migrations ORDER BY name');
    expect(rows.map((r) => r.name)).toEqual(first.applied);
  });

  it('two processes migrating at once apply each file once', async () => {
    const db = await createEmptyDatabase();
    const [a, b] = await Promise.all([migrate(db.pool), migrate(db.pool)]);
    expect([...a.applied, ...b.applied].sort()).toEqual([...new Set([...a.applied, ...b.applied])].sort());
    expect(a.applied.length + b.applied.length).toBe(a.applied.length + a.skipped.length);
  });
});
