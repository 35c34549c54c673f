// The Method client LoanPay uses: the real API when METHOD_API_URL is set, else the built-in simulator.
import { MethodClient } from '../../method/client.js';
import type { Config } from '../config.js';

export const SIMULATOR_API_KEY = 'sk_loanpay_simulator';

export function methodBaseUrl(config: Config): string {
  return config.methodApiUrl ?? `http://127.0.0.1:${config.simulatorPort}`;
}

export function createMethodClient(config: Config, timeoutMs = 15_000): MethodClient {
  return new MethodClient({
    baseUrl: methodBaseUrl(config),
    apiKey: config.methodApiKey ?? SIMULATOR_API_KEY,
    version: config.methodVersion,
    timeoutMs,
  });
}

/** Capped, jittered exponential backoff: 1 s, 2 s, 4 s … up to `capMs`, times 0.5–1.5. */
export function backoffMs(retry: number, baseMs = 1000, capMs = 5 * 60_000): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.min(retry, 20));
  return Math.round(exp * (0.5 + Math.random()));
}
