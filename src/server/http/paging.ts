// List conventions of api.md: ?limit= (default 100, clamped to 1000), opaque ?cursor=, { items, nextCursor }.
import { AppError } from '../errors.js';

export const LIST_QUERY_PROPERTIES = {
  limit: { type: 'string', pattern: '^[0-9]{1,9}$' },
  cursor: { type: 'string', maxLength: 2000 },
} as const;

export function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return 100;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new AppError('BAD_REQUEST', `limit must be a positive whole number, got "${raw}"`);
  return Math.min(n, 1000);
}

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T>(raw: string | undefined, check: (v: unknown) => v is T): T | undefined {
  if (raw === undefined || raw === '') return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (check(v)) return v;
  } catch {
    // fall through to the error below
  }
  throw new AppError('BAD_REQUEST', 'cursor is not valid: pass back the nextCursor of an earlier page');
}

/** Takes limit+1 rows and turns them into a page. */
export function page<T>(
  rows: T[],
  limit: number,
  cursorOf: (last: T) => unknown,
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items,
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(cursorOf(last)) : null,
  };
}
