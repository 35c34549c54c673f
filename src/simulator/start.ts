// Starts the Method simulator: its database (own pool or the caller's), its migrations, its HTTP
// listener and background loops. Used by `npm run simulator` and in-process by `npm start`.
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Config } from '../server/config.js';
import { createPool, type Pool } from '../server/db.js';
import { type EmbeddedDatabase, ensureDatabase } from '../server/embedded-pg.js';
import { migrate } from '../server/migrate.js';
import { buildSimulator, type Simulator, type SimulatorOptions } from './server.js';

export const SIMULATOR_MIGRATIONS_DIR = fileURLToPath(new URL('../../db/simulator/', import.meta.url));
export const SIMULATOR_MIGRATIONS_TABLE = 'simulator_migrations';
export const SIMULATOR_DATABASE = 'method_simulator';

export interface StartSimulatorOptions extends Omit<SimulatorOptions, 'pool'> {
  /** Either a connection string (the simulator opens and closes its own pool) or a pool. */
  databaseUrl?: string;
  pool?: Pool;
  port: number;
  host?: string;
}

export interface RunningSimulator {
  url: string;
  port: number;
  simulator: Simulator;
  close(): Promise<void>;
}

export async function migrateSimulator(pool: Pool): Promise<void> {
  await migrate(pool, SIMULATOR_MIGRATIONS_DIR, SIMULATOR_MIGRATIONS_TABLE);
}

export async function startSimulator(opts: StartSimulatorOptions): Promise<RunningSimulator> {
  if (!opts.pool && !opts.databaseUrl) throw new Error('startSimulator needs databaseUrl or pool');
  const ownPool = opts.pool ? null : createPool(opts.databaseUrl as string, 20);
  const pool = opts.pool ?? (ownPool as Pool);
  try {
    await migrateSimulator(pool);
    const simulator = buildSimulator({ ...opts, pool });
    const host = opts.host ?? '127.0.0.1';
    await simulator.app.listen({ port: opts.port, host });
    const address = simulator.app.server.address();
    const port = typeof address === 'object' && address ? address.port : opts.port;
    simulator.start();
    return {
      url: `http://${host}:${port}`,
      port,
      simulator,
      async close() {
        await simulator.stop();
        await ownPool?.end();
      },
    };
  } catch (err) {
    await ownPool?.end().catch(() => {});
    throw err;
  }
}

/**
 * Where the simulator keeps its state: SIMULATOR_DATABASE_URL if set; else its own database
 * `method_simulator` in the embedded cluster; else (external DATABASE_URL) LoanPay's database,
 * where its tables are all prefixed `sim_`.
 */
export async function simulatorDatabaseUrl(
  rt: { databaseUrl: string; embedded: EmbeddedDatabase | null },
  env: Record<string, string | undefined> = process.env,
): Promise<string> {
  const explicit = env.SIMULATOR_DATABASE_URL?.trim();
  if (explicit) return explicit;
  if (rt.embedded) {
    await ensureDatabase(rt.embedded.url, SIMULATOR_DATABASE);
    return rt.embedded.urlFor(SIMULATOR_DATABASE);
  }
  return rt.databaseUrl;
}

/** The call `npm start` makes: the simulator as configured (api.md), beside LoanPay. */
export async function startConfiguredSimulator(rt: {
  config: Config;
  logger: Logger;
  databaseUrl: string;
  embedded: EmbeddedDatabase | null;
}): Promise<RunningSimulator> {
  return startSimulator({
    databaseUrl: await simulatorDatabaseUrl(rt),
    port: rt.config.simulatorPort,
    host: '127.0.0.1',
    logger: rt.logger.child({ component: 'method-simulator' }),
    paymentsPerMinute: rt.config.simulatorPaymentsPerMinute,
    stepMs: rt.config.simulatorStepMs,
    faults: rt.config.simulatorFaults,
  });
}
