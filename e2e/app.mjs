// Starts LoanPay exactly as `npm start` does (prestart builds the UI if needed) on free ports with
// a fresh DATA_DIR, for the browser tests and the browser benchmark; stops its process group.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

export function workDir() {
  const work = mkdtempSync(join(tmpdir(), 'loanpay-e2e-'));
  // Run as root, embedded PostgreSQL drops to its own user, which must be able to enter the folder.
  chmodSync(work, 0o755);
  return work;
}

export const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

export async function waitFor(what, fn, timeoutMs = 60_000, everyMs = 500) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last?.message ?? last)})`,
  );
}

/** `bench/gen.ts` into `work/name`, with its `--summary` (row count, totals by source and branch). */
export function generate(work, args, name) {
  const out = join(work, name);
  const r = spawnSync(
    join(repo, 'node_modules', '.bin', 'tsx'),
    ['bench/gen.ts', ...args, '--summary', `${out}.json`],
    {
      cwd: repo,
      encoding: 'utf8',
      maxBuffer: 512 * 1024 * 1024,
    },
  );
  if (r.status !== 0) throw new Error(`generator failed: ${r.stderr}`);
  writeFileSync(out, r.stdout);
  return { path: out, summary: JSON.parse(readFileSync(`${out}.json`, 'utf8')) };
}

export async function startApp({ work, logFile, adminPassword, env = {} }) {
  const port = await freePort();
  const simPort = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = createWriteStream(logFile);
  const child = spawn('npm', ['start'], {
    cwd: repo,
    detached: true, // its own process group, so the whole tree stops together
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DATA_DIR: join(work, 'data'),
      PORT: String(port),
      HOST: '127.0.0.1',
      SIMULATOR_PORT: String(simPort),
      ADMIN_PASSWORD: adminPassword,
      METHOD_PAYMENTS_PER_MINUTE: '0',
      SIMULATOR_PAYMENTS_PER_MINUTE: '0',
      SIMULATOR_STEP_MS: '300',
      LOG_LEVEL: 'warn',
      ...env,
    },
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  await Promise.race([
    waitFor(
      'the server to answer /readyz',
      async () => (await fetch(`${base}/readyz`).catch(() => null))?.ok,
      240_000,
    ),
    exited.then((code) => {
      throw new Error(`npm start exited with ${code}; see ${logFile}`);
    }),
  ]);
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
        resolve();
      }, 15_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        resolve();
      }
    });
  return { base, simulatorUrl: `http://127.0.0.1:${simPort}`, stop };
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
];
