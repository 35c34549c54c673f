// `prestart`: builds the web UI into dist/web when it is missing or older than its sources, so
// `npm ci && npm start` serves the UI on a fresh clone and a restart costs nothing when built.
// Builds into a temporary folder and swaps it in, so a server already serving dist/web never sees
// a half-written build.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(repo, 'dist', 'web');
const stamp = join(out, '.built');
const inputs = ['src/web', 'src/shared', 'vite.config.ts', 'package-lock.json'].map((p) => join(repo, p));

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const e of readdirSync(path)) max = Math.max(max, newest(join(path, e)));
  return max;
}

const builtAt = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const sourcesAt = Math.max(...inputs.map(newest));
if (builtAt > sourcesAt && !process.argv.includes('--force')) process.exit(0);

console.log(builtAt ? 'Web UI sources changed: rebuilding dist/web…' : 'Building the web UI into dist/web…');
const tmp = join(repo, 'dist', `.web-${process.pid}`);
const vite = join(repo, 'node_modules', 'vite', 'bin', 'vite.js');
const r = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], {
  cwd: repo,
  stdio: 'inherit',
  env: { ...process.env, WEB_OUT_DIR: tmp },
});
if (r.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  console.error(
    'The web UI did not build (see above); the API would still start with `npx tsx src/server/main.ts`.',
  );
  process.exit(r.status ?? 1);
}
writeFileSync(join(tmp, '.built'), new Date().toISOString());
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
console.log('Web UI built.');
