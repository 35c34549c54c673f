// The payment state machine (api.md statuses): which status may follow which. Every status change
// of a payment goes through `assertTransition`; the table is exhaustively tested.
import type { PaymentStatus } from './statuses.js';

export const FINAL_STATUSES: ReadonlySet<PaymentStatus> = new Set([
  'paid',
  'failed',
  'returned',
  'cancelled',
]);

/**
 * Allowed next statuses. `paid` and `failed` are final but not frozen: Method can still return a
 * paid payment (returned / reversal_required → needs_review), and a person can retry a failed one.
 */
export const TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  queued: ['submitting', 'cancelled', 'needs_review'],
  submitting: [
    'submitted',
    'processing',
    'paid',
    'retry_scheduled',
    'unknown',
    'failed',
    'returned',
    'needs_review',
    'cancelled',
  ],
  retry_scheduled: ['submitting', 'unknown', 'cancelled', 'needs_review'],
  unknown: [
    'submitting',
    'retry_scheduled',
    'submitted',
    'processing',
    'paid',
    'failed',
    'cancelled',
    'returned',
    'needs_review',
  ],
  submitted: ['processing', 'paid', 'failed', 'cancelled', 'returned', 'needs_review'],
  processing: ['paid', 'failed', 'returned', 'needs_review'],
  paid: ['returned', 'needs_review'],
  needs_review: [
    'retry_scheduled',
    'cancelled',
    'processing',
    'paid',
    'failed',
    'returned',
    'submitted',
    'unknown',
  ],
  failed: ['retry_scheduled'],
  returned: [],
  cancelled: [],
};

export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export class TransitionError extends Error {
  constructor(
    readonly from: PaymentStatus,
    readonly to: PaymentStatus,
  ) {
    super(`a payment cannot go from ${from} to ${to}`);
    this.name = 'TransitionError';
  }
}

export function assertTransition(from: PaymentStatus, to: PaymentStatus): void {
  if (!canTransition(from, to)) throw new TransitionError(from, to);
}

/**
 * How far along Method's own lifecycle a status is, for applying webhook/poll results only when
 * they move a payment forward (out-of-order and repeated events change nothing).
 */
export const PROGRESS: Readonly<Record<PaymentStatus, number>> = {
  queued: 0,
  retry_scheduled: 0,
  submitting: 1,
  unknown: 1,
  submitted: 2,
  processing: 3,
  needs_review: 4,
  paid: 5,
  failed: 5,
  cancelled: 5,
  returned: 6,
};
