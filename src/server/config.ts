// Configuration from the environment (api.md's table), validated once at start with clear messages.
import path from 'node:path';

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  databaseUrl: string | undefined;
  dataDir: string;
  encryptionKey: string | undefined;
  adminPassword: string | undefined;
  maxUploadMb: number;
  annualLimitCents: number;
  methodApiUrl: string | undefined;
  methodApiKey: string | undefined;
  methodVersion: string;
  methodWebhookSecret: string | undefined;
  methodPaymentsPerMinute: number;
  workerConcurrency: number;
  /** How long a worker's claim on a payment lasts before the sweeper assumes it died. */
  workerLeaseMs: number;
  requireSecondApprover: boolean;
  simulatorPort: number;
  simulatorPaymentsPerMinute: number;
  simulatorStepMs: number;
  simulatorFaults: Record<string, unknown> | undefined;
  sessionTtlHours: number;
  logLevel: string;
}

export const DEFAULT_METHOD_VERSION = '2025-07-04';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = str(name);
    if (v === undefined) return def;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got "${v}"`);
      return def;
    }
    return Number(v);
  };
  const bool = (name: string, def: boolean): boolean => {
    const v = str(name);
    if (v === undefined) return def;
    if (/^(true|1|yes)$/i.test(v)) return true;
    if (/^(false|0|no)$/i.test(v)) return false;
    problems.push(`${name} must be true or false, got "${v}"`);
    return def;
  };
  const url = (name: string): string | undefined => {
    const v = str(name);
    if (v === undefined) return undefined;
    try {
      const u = new URL(v);
      if (!/^(https?|postgres(ql)?):$/.test(u.protocol)) throw new Error('protocol');
      return v.replace(/\/+$/, '');
    } catch {
      problems.push(`${name} must be a URL, got "${v}"`);
      return undefined;
    }
  };

  const port = int('PORT', 3000, 1, 65535);
  const host = str('HOST') ?? '127.0.0.1';
  const databaseUrl = url('DATABASE_URL');
  const encryptionKey = str('ENCRYPTION_KEY');
  const methodWebhookSecret = str('METHOD_WEBHOOK_SECRET');
  if (databaseUrl && !encryptionKey) {
    problems.push('ENCRYPTION_KEY is required when DATABASE_URL is set (64 hex characters: 32 random bytes)');
  }
  if (databaseUrl && !methodWebhookSecret) {
    problems.push('METHOD_WEBHOOK_SECRET is required when DATABASE_URL is set');
  }
  if (encryptionKey && !/^[0-9a-fA-F]{64}$/.test(encryptionKey)) {
    problems.push('ENCRYPTION_KEY must be 64 hex characters (32 bytes)');
  }
  const methodApiUrl = url('METHOD_API_URL');
  const methodApiKey = str('METHOD_API_KEY');
  if (methodApiUrl && !methodApiKey) problems.push('METHOD_API_KEY is required when METHOD_API_URL is set');
  let simulatorFaults: Record<string, unknown> | undefined;
  const faults = str('SIMULATOR_FAULTS');
  if (faults) {
    try {
      const parsed: unknown = JSON.parse(faults);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object');
      simulatorFaults = parsed as Record<string, unknown>;
    } catch {
      problems.push(`SIMULATOR_FAULTS must be a JSON object, got "${faults}"`);
    }
  }
  const adminPassword = str('ADMIN_PASSWORD');
  if (adminPassword !== undefined && adminPassword.length < 8) {
    problems.push('ADMIN_PASSWORD must be at least 8 characters');
  }
  const logLevel = str('LOG_LEVEL') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push(
      `LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "${logLevel}"`,
    );
  }

  const config: Config = {
    port,
    host,
    publicUrl: url('PUBLIC_URL') ?? `http://${host}:${port}`,
    databaseUrl,
    dataDir: path.resolve(str('DATA_DIR') ?? './data'),
    encryptionKey,
    adminPassword,
    maxUploadMb: int('MAX_UPLOAD_MB', 100, 1, 10_000),
    annualLimitCents: int('ANNUAL_LIMIT_CENTS', 525_000, 1, Number.MAX_SAFE_INTEGER),
    methodApiUrl,
    methodApiKey,
    methodVersion: str('METHOD_VERSION') ?? DEFAULT_METHOD_VERSION,
    methodWebhookSecret,
    methodPaymentsPerMinute: int('METHOD_PAYMENTS_PER_MINUTE', 114, 0, 1_000_000),
    workerConcurrency: int('WORKER_CONCURRENCY', 16, 1, 1000),
    workerLeaseMs: int('WORKER_LEASE_MS', 60_000, 1000, 3_600_000),
    requireSecondApprover: bool('REQUIRE_SECOND_APPROVER', true),
    simulatorPort: int('SIMULATOR_PORT', 4010, 1, 65535),
    simulatorPaymentsPerMinute: int('SIMULATOR_PAYMENTS_PER_MINUTE', 120, 0, 1_000_000),
    simulatorStepMs: int('SIMULATOR_STEP_MS', 3000, 1, 86_400_000),
    simulatorFaults,
    sessionTtlHours: int('SESSION_TTL_HOURS', 12, 1, 24 * 365),
    logLevel,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
