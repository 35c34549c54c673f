// The append-only audit log: every write records who, when, what, on which entity and from where,
// in the same transaction as the change itself.
import type { Queryable } from '../db.js';

export interface Actor {
  userId: string | null;
  username: string | null;
  clientAddress: string | null;
}

export const SYSTEM_ACTOR: Actor = { userId: null, username: 'system', clientAddress: null };

export interface AuditEntry {
  id: string;
  at: string;
  userId: string | null;
  username: string | null;
  action: string;
  entityType: string;
  entityId: string | null;
  details: Record<string, unknown>;
  clientAddress: string | null;
}

export async function recordAudit(
  db: Queryable,
  actor: Actor,
  action: string,
  entityType: string,
  entityId: string | null,
  details: Record<string, unknown> = {},
): Promise<void> {
  await db.query(
    `INSERT INTO audit_log (user_id, username, action, entity_type, entity_id, details, client_address)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      actor.userId,
      actor.username,
      action,
      entityType,
      entityId,
      JSON.stringify(details),
      actor.clientAddress,
    ],
  );
}

export interface AuditFilter {
  entityType?: string;
  entityId?: string;
  userId?: string;
  action?: string;
  from?: string;
  to?: string;
  beforeId?: number;
  limit: number;
}

export async function listAudit(db: Queryable, f: AuditFilter): Promise<AuditEntry[]> {
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    args.push(v);
    where.push(sql.replace('?', `$${args.length}`));
  };
  if (f.entityType) add('entity_type = ?', f.entityType);
  if (f.entityId) add('entity_id = ?', f.entityId);
  if (f.userId) add('user_id = ?', f.userId);
  if (f.action) add('action = ?', f.action);
  if (f.from) add('at >= ?', f.from);
  if (f.to) add('at < ?', f.to);
  if (f.beforeId !== undefined) add('id < ?', f.beforeId);
  args.push(f.limit);
  const { rows } = await db.query(
    `SELECT id::text, at, user_id, username, action, entity_type, entity_id, details, client_address
       FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY audit_log.id DESC LIMIT $${args.length}`,
    args,
  );
  return rows.map((r) => ({
    id: r.id,
    at: (r.at as Date).toISOString(),
    userId: r.user_id,
    username: r.username,
    action: r.action,
    entityType: r.entity_type,
    entityId: r.entity_id,
    details: r.details,
    clientAddress: r.client_address,
  }));
}
