// `npm run worker`: one more worker process against the same database (scale-out). It needs the
// database and Method; it serves no HTTP.
import { ConfigError, loadConfig } from './config.js';
import { createMethodClient } from './execution/method.js';
import { Worker } from './execution/worker.js';
import { runningEmbeddedUrl, startRuntime } from './runtime.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  if (!config.databaseUrl) {
    // Join the embedded database of `npm start` running from the same DATA_DIR.
    const url = runningEmbeddedUrl(config.dataDir);
    if (!url) {
      console.error(
        'npm run worker joins a running LoanPay: start it first (npm start), or set DATABASE_URL to its database',
      );
      process.exit(1);
    }
    config = { ...config, databaseUrl: url };
  }
  const rt = await startRuntime(config);
  const client = createMethodClient(config);
  const worker = new Worker({
    pool: rt.pool,
    client,
    cipher: rt.cipher,
    logger: rt.logger.child({ component: 'worker' }),
    concurrency: config.workerConcurrency,
    paymentsPerMinute: config.methodPaymentsPerMinute,
    leaseMs: config.workerLeaseMs,
    sweepEveryMs: Math.min(5000, config.workerLeaseMs / 2),
  });
  const shutdown = async () => {
    await worker.stop().catch(() => {});
    await client.close().catch(() => {});
    await rt.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  worker.start();
  rt.logger.info({ worker: worker.id }, 'worker started');
}

main().catch((err) => {
  console.error(`LoanPay worker failed to start: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
