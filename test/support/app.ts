// Builds the real app on a fresh test database, with helpers to log in as each role.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { MethodClient } from '../../src/method/client.js';
import { type App, buildApp } from '../../src/server/app.js';
import { type Config, loadConfig } from '../../src/server/config.js';
import { Cipher } from '../../src/server/secrets.js';
import type { Role } from '../../src/shared/roles.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export const TEST_KEY = 'a'.repeat(64);
export const PASSWORD = 'correct-horse-battery';

export interface TestApp {
  app: FastifyInstance;
  built: App;
  db: TestDatabase;
  config: Config;
  /** Bearer tokens by role; `admin` is the first admin. */
  tokens: Record<Role, string>;
  userIds: Record<Role, string>;
  as(role: Role | string, opts: InjectOptions): Promise<LightMyRequestResponse>;
  login(username: string, password?: string): Promise<string>;
  createUser(username: string, role: Role): Promise<{ id: string; token: string }>;
}

export async function createTestApp(
  env: Record<string, string> = {},
  opts: { methodClient?: MethodClient } = {},
): Promise<TestApp> {
  const db = await createTestDatabase();
  const config = loadConfig({
    ADMIN_PASSWORD: PASSWORD,
    DATA_DIR: '/nonexistent',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const built = await buildApp({
    config,
    pool: db.pool,
    cipher: new Cipher(TEST_KEY),
    logger: false,
    methodClient: opts.methodClient,
  });
  await built.auth.ensureFirstAdmin(PASSWORD);
  const app = built.app;
  await app.ready();
  const tokens = {} as Record<Role, string>;
  const userIds = {} as Record<Role, string>;
  const extraTokens: Record<string, string> = {};

  const login = async (username: string, password = PASSWORD) => {
    const r = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
    if (r.statusCode !== 200) throw new Error(`login ${username} failed: ${r.statusCode} ${r.body}`);
    return r.json().token as string;
  };
  tokens.admin = await login('admin');
  const createUser = async (username: string, role: Role) => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/users',
      headers: { authorization: `Bearer ${tokens.admin}` },
      payload: { username, password: PASSWORD, role },
    });
    if (r.statusCode !== 201) throw new Error(`create ${username} failed: ${r.body}`);
    const token = await login(username);
    extraTokens[username] = token;
    return { id: r.json().user.id as string, token };
  };
  userIds.admin = (
    await app.inject({
      method: 'GET',
      url: '/api/auth/me',
      headers: { authorization: `Bearer ${tokens.admin}` },
    })
  ).json().user.id;
  for (const role of ['operator', 'approver', 'auditor'] as const) {
    const u = await createUser(role, role);
    tokens[role] = u.token;
    userIds[role] = u.id;
  }
  return {
    app,
    built,
    db,
    config,
    tokens,
    userIds,
    login,
    createUser,
    as(role, opts) {
      const token = (tokens as Record<string, string>)[role] ?? extraTokens[role];
      if (!token) throw new Error(`no token for ${role}`);
      return app.inject({ ...opts, headers: { ...(opts.headers ?? {}), authorization: `Bearer ${token}` } });
    },
  };
}
