// Batch and payment statuses and status groups (api.md), shared by server and web.
export const BATCH_STATUSES = [
  'awaiting_approval',
  'approved',
  'executing',
  'paused',
  'completed',
  'completed_with_exceptions',
  'rejected',
  'cancelling',
  'cancelled',
] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

export const PAYMENT_STATUSES = [
  'queued',
  'submitting',
  'retry_scheduled',
  'unknown',
  'submitted',
  'processing',
  'paid',
  'failed',
  'returned',
  'cancelled',
  'needs_review',
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const STATUS_GROUPS = ['pending', 'paid', 'failed', 'returned', 'cancelled'] as const;
export type StatusGroup = (typeof STATUS_GROUPS)[number];

export function groupOf(status: PaymentStatus): StatusGroup {
  switch (status) {
    case 'paid':
    case 'failed':
    case 'returned':
    case 'cancelled':
      return status;
    default:
      return 'pending';
  }
}

export function statusesInGroup(group: StatusGroup): PaymentStatus[] {
  return PAYMENT_STATUSES.filter((s) => groupOf(s) === group);
}

export type GroupCounts = Record<StatusGroup, number>;
export const zeroGroups = (): GroupCounts => ({ pending: 0, paid: 0, failed: 0, returned: 0, cancelled: 0 });
