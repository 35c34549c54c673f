// The simulated payment state machine (method.md §5.4, §7.2): the automatic steps a payment takes
// on the timer, the transitions `POST /simulate/payments/{id}` may force, and how each status
// shows on the payment object. Pure; the store applies it.
import type { Payment } from '../method/types.js';
import { invalid } from './envelope.js';
import { paymentError } from './resources.js';

export type Fate = 'post' | 'fail' | 'return' | 'reverse';

export interface StepInput {
  status: string;
  fate: Fate;
  destinationType: string;
}

export interface Step {
  status: string;
  errorCode?: number;
}

/** The next automatic status, or null when the payment is final or waits for a person. */
export function nextAutomaticStep(p: StepInput): Step | null {
  switch (p.status) {
    case 'pending':
      return { status: 'processing' };
    case 'processing':
      return p.fate === 'fail' ? { status: 'failed', errorCode: 10001 } : { status: 'sent' };
    case 'sent':
      if (p.fate === 'return') return { status: 'failed', errorCode: 10009 };
      if (p.fate === 'reverse') return { status: 'reversal_required', errorCode: 10001 };
      return { status: 'posted' };
    case 'reversal_processing':
      // A liability destination cannot give money back: Method re-pulls from the source instead.
      return { status: p.destinationType === 'liability' ? 'settled' : 'reversed' };
    default:
      return null;
  }
}

export const FINAL_STATUSES = new Set(['posted', 'failed', 'canceled', 'reversed', 'settled', 'cashed']);

/** Whether the timer moves a payment in this status (reversal_required waits for approval). */
export function movesOnItsOwn(status: string): boolean {
  return (
    status === 'pending' || status === 'processing' || status === 'sent' || status === 'reversal_processing'
  );
}

/** V1's simulation table plus `failed` and `posted` (method.md §7.2). */
const SIMULATE: Record<string, string[]> = {
  pending: ['processing', 'failed'],
  processing: ['sent', 'failed'],
  sent: ['posted', 'reversal_required', 'reversal_processing', 'failed'],
  reversal_processing: ['reversed', 'settled'],
};

export function checkSimulatedTransition(from: string, to: unknown, errorCode: unknown): Step {
  if (typeof to !== 'string') throw invalid('INVALID_REQUEST', '"status" is required.');
  if (!(SIMULATE[from] ?? []).includes(to)) {
    throw invalid('INVALID_PAYMENT_STATUS', `A payment cannot be simulated from ${from} to ${to}.`);
  }
  const needsCode = to === 'failed' || to === 'reversal_processing' || to === 'reversal_required';
  if (errorCode === undefined || errorCode === null) {
    if (to === 'failed') throw invalid('INVALID_REQUEST', '"error_code" is required for status failed.');
    return needsCode && to !== 'reversal_processing' ? { status: to, errorCode: 10001 } : { status: to };
  }
  const code = typeof errorCode === 'string' ? Number(errorCode) : errorCode;
  if (typeof code !== 'number' || !Number.isInteger(code))
    throw invalid('INVALID_REQUEST', '"error_code" must be a number.');
  paymentError(code);
  return { status: to, errorCode: code };
}

const SIDES: Record<string, [string, string]> = {
  pending: ['pending', 'pending'],
  processing: ['processing', 'pending'],
  sent: ['sent', 'sent'],
  posted: ['sent', 'posted'],
  canceled: ['canceled', 'canceled'],
  reversal_required: ['returned', 'sent'],
  reversal_processing: ['processing', 'sent'],
  settled: ['sent', 'posted'],
  reversed: ['returned', 'reversed'],
};

/** The payment object after a status change. */
export function applyStatus(
  p: Payment,
  step: Step,
  ctx: { wasSent: boolean; reversalId?: string | null; now: string },
): Payment {
  let sides = SIDES[step.status] ?? [p.source_status, p.destination_status];
  if (step.status === 'failed') sides = ctx.wasSent ? ['sent', 'returned'] : ['returned', 'canceled'];
  const sent = step.status === 'sent';
  return {
    ...p,
    status: step.status,
    source_status: sides[0],
    destination_status: sides[1],
    error: step.errorCode !== undefined ? paymentError(step.errorCode) : p.error,
    reversal_id: ctx.reversalId ?? p.reversal_id,
    source_trace_id: sent ? traceId(p.id, 's') : p.source_trace_id,
    destination_trace_id: sent ? traceId(p.id, 'd') : p.destination_trace_id,
    updated_at: ctx.now,
  };
}

function traceId(id: string, side: string): string {
  let h = 0;
  for (const c of id + side) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `0210000${String(h).padStart(8, '0')}`;
}
