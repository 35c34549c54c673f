// Users and sessions: login, session lookup by bearer token or cookie, user management, first admin.
import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '../../shared/roles.js';
import { type Actor, recordAudit } from '../audit/audit.repository.js';
import { type Pool, type Queryable, withTransaction } from '../db.js';
import { AppError, notFound } from '../errors.js';
import { DUMMY_HASH_PROMISE, hashPassword, verifyPassword } from './password.js';

export interface User {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
}

export interface SessionUser {
  id: string;
  username: string;
  role: Role;
  sessionId: string;
  csrfToken: string;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest();

function toUser(r: { id: string; username: string; role: Role; disabled: boolean; created_at: Date }): User {
  return {
    id: r.id,
    username: r.username,
    role: r.role,
    disabled: r.disabled,
    createdAt: r.created_at.toISOString(),
  };
}

export class AuthService {
  constructor(
    private readonly pool: Pool,
    private readonly sessionTtlHours: number,
  ) {}

  async login(
    username: string,
    password: string,
    clientAddress: string | null,
  ): Promise<{ user: User; token: string; csrfToken: string; expiresAt: Date }> {
    const { rows } = await this.pool.query(
      'SELECT id, username, role, disabled, created_at, password_hash FROM users WHERE lower(username) = lower($1)',
      [username],
    );
    const row = rows[0];
    const ok = await verifyPassword(password, row ? row.password_hash : await DUMMY_HASH_PROMISE);
    if (!row || !ok || row.disabled) {
      await recordAudit(
        this.pool,
        { userId: row?.id ?? null, username, clientAddress },
        'auth.login_failed',
        'user',
        row?.id ?? null,
        {
          reason: !row ? 'unknown user' : !ok ? 'wrong password' : 'user disabled',
        },
      );
      throw new AppError('INVALID_CREDENTIALS', 'Wrong username or password');
    }
    const token = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(24).toString('base64url');
    return withTransaction(this.pool, async (tx) => {
      const s = await tx.query(
        `INSERT INTO sessions (token_hash, csrf_token, user_id, expires_at, client_address)
         VALUES ($1, $2, $3, now() + make_interval(hours => $4), $5) RETURNING id, expires_at`,
        [hashToken(token), csrfToken, row.id, this.sessionTtlHours, clientAddress],
      );
      await recordAudit(
        tx,
        { userId: row.id, username: row.username, clientAddress },
        'auth.login',
        'session',
        s.rows[0].id,
      );
      return { user: toUser(row), token, csrfToken, expiresAt: s.rows[0].expires_at };
    });
  }

  /** The user behind a live token, or null for unknown, expired, revoked or disabled. */
  async findSession(token: string): Promise<SessionUser | null> {
    const { rows } = await this.pool.query(
      `SELECT s.id AS session_id, s.csrf_token, u.id, u.username, u.role
         FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled`,
      [hashToken(token)],
    );
    const r = rows[0];
    return r
      ? { id: r.id, username: r.username, role: r.role, sessionId: r.session_id, csrfToken: r.csrf_token }
      : null;
  }

  async logout(sessionId: string, actor: Actor): Promise<void> {
    await withTransaction(this.pool, async (tx) => {
      await tx.query('UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [
        sessionId,
      ]);
      await recordAudit(tx, actor, 'auth.logout', 'session', sessionId);
    });
  }

  async createUser(input: { username: string; password: string; role: Role }, actor: Actor): Promise<User> {
    const hash = await hashPassword(input.password);
    return withTransaction(this.pool, async (tx) => {
      const existing = await tx.query('SELECT 1 FROM users WHERE lower(username) = lower($1)', [
        input.username,
      ]);
      if (existing.rowCount)
        throw new AppError('USERNAME_TAKEN', `A user named "${input.username}" already exists`);
      const { rows } = await tx.query(
        'INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) RETURNING id, username, role, disabled, created_at',
        [input.username, hash, input.role],
      );
      const user = toUser(rows[0]);
      await recordAudit(tx, actor, 'user.create', 'user', user.id, {
        username: user.username,
        role: user.role,
      });
      return user;
    });
  }

  async listUsers(db: Queryable = this.pool): Promise<User[]> {
    const { rows } = await db.query(
      'SELECT id, username, role, disabled, created_at FROM users ORDER BY lower(username)',
    );
    return rows.map(toUser);
  }

  async updateUser(id: string, patch: { role?: Role; disabled?: boolean }, actor: Actor): Promise<User> {
    return withTransaction(this.pool, async (tx) => {
      const before = await tx.query(
        'SELECT id, username, role, disabled, created_at FROM users WHERE id = $1 FOR UPDATE',
        [id],
      );
      if (!before.rowCount) throw notFound('User', id);
      if (actor.userId === id && (patch.disabled === true || (patch.role && patch.role !== 'admin'))) {
        throw new AppError('INVALID_STATE', 'You cannot disable yourself or remove your own admin role');
      }
      const { rows } = await tx.query(
        `UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), updated_at = now()
          WHERE id = $1 RETURNING id, username, role, disabled, created_at`,
        [id, patch.role ?? null, patch.disabled ?? null],
      );
      if (patch.disabled === true) {
        await tx.query('UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [
          id,
        ]);
      }
      const b = toUser(before.rows[0]);
      await recordAudit(tx, actor, 'user.update', 'user', id, {
        before: { role: b.role, disabled: b.disabled },
        after: { role: rows[0].role, disabled: rows[0].disabled },
      });
      return toUser(rows[0]);
    });
  }

  /**
   * On an empty users table, creates `admin` with the given password or a generated one, which the
   * caller prints once. Returns null when users exist already.
   */
  async ensureFirstAdmin(
    password: string | undefined,
  ): Promise<{ username: string; password: string; generated: boolean } | null> {
    return withTransaction(this.pool, async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtext('loanpay_first_admin'))");
      const { rows } = await tx.query('SELECT count(*)::int AS n FROM users');
      if (rows[0].n > 0) return null;
      const pw = password ?? randomBytes(12).toString('base64url');
      const r = await tx.query(
        "INSERT INTO users (username, password_hash, role) VALUES ('admin', $1, 'admin') RETURNING id",
        [await hashPassword(pw)],
      );
      await recordAudit(
        tx,
        { userId: null, username: 'system', clientAddress: null },
        'user.create',
        'user',
        r.rows[0].id,
        {
          username: 'admin',
          role: 'admin',
          firstStart: true,
        },
      );
      return { username: 'admin', password: pw, generated: password === undefined };
    });
  }
}
