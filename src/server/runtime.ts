// Brings up what LoanPay needs to run: configuration, the database (embedded or external),
// secrets, migrations. Shared by the server, the worker process and the CLI tools.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';
import { createPool, type Pool } from './db.js';
import { type EmbeddedDatabase, ensureDatabase, startEmbeddedPostgres } from './embedded-pg.js';
import { migrate } from './migrate.js';
import { Cipher, loadOrCreateSecret, randomHex } from './secrets.js';

export interface Runtime {
  config: Config;
  logger: Logger;
  pool: Pool;
  databaseUrl: string;
  cipher: Cipher;
  webhookSecret: string;
  embedded: EmbeddedDatabase | null;
  close(): Promise<void>;
}

export const APP_DATABASE = 'loanpay';

const runFile = (dataDir: string) => path.join(dataDir, 'run', 'database-url');

/** The embedded database of a LoanPay running from the same DATA_DIR, if any. */
export function runningEmbeddedUrl(dataDir: string): string | undefined {
  const f = runFile(dataDir);
  return existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined;
}

export function createLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.accountNumber', '*.password'],
      censor: '[redacted]',
    },
  });
}

export async function startRuntime(
  config: Config,
  logger = createLogger(config),
  poolSize = 20,
): Promise<Runtime> {
  let embedded: EmbeddedDatabase | null = null;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(config.dataDir, 'pg'),
      log: (m) => logger.info(m),
    });
    await ensureDatabase(embedded.url, APP_DATABASE);
    databaseUrl = embedded.urlFor(APP_DATABASE);
    // Lets `npm run worker` join this cluster without DATABASE_URL.
    mkdirSync(path.join(config.dataDir, 'run'), { recursive: true });
    writeFileSync(runFile(config.dataDir), `${databaseUrl}\n`, { mode: 0o600 });
    logger.info({ port: embedded.port, dataDir: config.dataDir }, 'embedded PostgreSQL ready');
  }
  const encryptionKey =
    config.encryptionKey ?? loadOrCreateSecret(config.dataDir, 'encryption-key', randomHex(32));
  const webhookSecret =
    config.methodWebhookSecret ?? loadOrCreateSecret(config.dataDir, 'method-webhook-secret', randomHex(32));
  const pool = createPool(databaseUrl, poolSize);
  try {
    const m = await migrate(pool);
    if (m.applied.length) logger.info({ applied: m.applied }, 'migrations applied');
  } catch (err) {
    await pool.end().catch(() => {});
    await embedded?.stop().catch(() => {});
    throw err;
  }
  return {
    config,
    logger,
    pool,
    databaseUrl,
    cipher: new Cipher(encryptionKey),
    webhookSecret,
    embedded,
    async close() {
      await pool.end().catch(() => {});
      await embedded?.stop().catch(() => {});
    },
  };
}
