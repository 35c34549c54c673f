// The API's JSON shapes (docs/api.md) as the web app reads them.
import type { Role } from '../../shared/roles';
import type { BatchStatus, GroupCounts, PaymentStatus, StatusGroup } from '../../shared/statuses';

export interface User {
  id: string;
  username: string;
  role: Role;
  disabled?: boolean;
  createdAt?: string;
}

export interface Me {
  user: User;
  csrfToken: string;
}

type GroupFields = Record<`${StatusGroup}Count` | `${StatusGroup}Cents`, number>;
export type SourceLine = {
  sourceId: string;
  sourceName: string;
  paymentCount: number;
  totalCents: number;
} & GroupFields;
export type BranchLine = {
  branchId: string;
  employeeCount: number;
  paymentCount: number;
  totalCents: number;
} & GroupFields;

export interface WarningItem {
  row: number;
  field: string;
  code: string;
  message: string;
}

export interface BatchSummary {
  bySource: SourceLine[];
  byBranch: BranchLine[];
  warnings: { count: number; byCode: Record<string, number>; items: WarningItem[]; truncated: boolean };
  preflight: { status: 'pending' | 'complete' | 'failed'; checkedAt: string | null };
  unpayable: {
    count: number;
    totalCents: number;
    byPlaidId: { plaidId: string; count: number; totalCents: number }[];
  };
  changes: {
    newEmployees: number;
    newLoanAccounts: number;
    changedEmployees: number;
    changedSources: number;
  };
}

export interface Batch {
  id: string;
  fileName: string;
  fileSha256: string;
  status: BatchStatus;
  rowCount: number;
  totalCents: number;
  uploadedAt: string;
  uploadedBy: string | null;
  uploadedById?: string | null;
  approvedAt: string | null;
  approvedBy: string | null;
  rejectedAt: string | null;
  rejectedBy: string | null;
  rejectReason: string | null;
  counts: GroupCounts;
  amountsCents: GroupCounts;
  etaSeconds: number | null;
  summary?: BatchSummary;
}

export interface Progress {
  status: BatchStatus;
  counts: GroupCounts;
  amountsCents: GroupCounts;
  etaSeconds: number | null;
}

export interface Payment {
  id: string | null;
  batchId: string;
  rowNumber: number;
  employeeId: string;
  employeeName: string;
  branchId: string;
  sourceId: string;
  amountCents: number;
  status: PaymentStatus | 'draft';
  group: StatusGroup | null;
  methodPaymentId: string | null;
  methodStatus: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  reviewReason?: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  flags?: string[];
}

export interface PaymentDetail extends Payment {
  history: {
    at: string;
    fromStatus: string | null;
    toStatus: string;
    cause: string;
    actor: string | null;
    methodStatus: string | null;
    detail: unknown;
  }[];
  attemptsDetail: {
    id: string;
    attemptNo: number;
    idempotencyKey: string;
    createdAt: string;
    calls: number;
    lastOutcome: string | null;
    state: string;
    methodPaymentId: string | null;
  }[];
  ledgerEntries: {
    postingId: number;
    kind: string;
    at: string;
    description: string;
    account: string;
    amountCents: number;
  }[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface EmployeeListItem {
  employeeId: string;
  firstName: string;
  lastName: string;
  branchId: string;
  paidCents: number;
  pendingCents: number;
}

export interface EmployeeProfile {
  employee: {
    employeeId: string;
    firstName: string;
    lastName: string;
    branchId: string;
    phoneMasked: string | null;
    dobYear: number | null;
    loans: { plaidId: string; loanAccountLast4: string; methodAccountId: string | null }[];
  };
  wallet: {
    paidCents: number;
    pendingCents: number;
    failedCents: number;
    returnedCents: number;
    yearToDatePaidCents?: number;
  };
  payments: Payment[];
}

export interface SourceListItem {
  sourceId: string;
  name: string;
  routing: string;
  accountLast4: string;
  paidCents: number;
  pendingCents: number;
}

export interface SourceProfile {
  source: {
    sourceId: string;
    name: string;
    dba: string | null;
    routing: string;
    accountLast4: string;
    methodAccountId: string | null;
  };
  wallet: { paidCents: number; pendingCents: number; failedCents: number; returnedCents: number };
  payments: Payment[];
}

export interface LedgerCheck {
  balanced: boolean;
  totalDebitsCents: number;
  totalCreditsCents: number;
  postings?: number;
  unbalancedPostings?: { postingId: number; sumCents: number }[];
  accountMismatches?: { kind: string; ref: string; ledgerCents: number; paymentsCents: number }[];
}

export interface ReconFinding {
  check: 'aggregates' | 'ledger' | 'method';
  entityType: string;
  entityId: string;
  expected: unknown;
  actual: unknown;
  differenceCents: number | null;
  repaired: boolean;
}

export interface ReconRun {
  id: string;
  status: 'running' | 'done' | 'failed';
  startedAt: string;
  finishedAt: string | null;
  findingCount?: number;
  findings?: ReconFinding[];
}

export interface AuditEntry {
  id: string;
  at: string;
  userId: string | null;
  username: string | null;
  action: string;
  entityType: string;
  entityId: string | null;
  details: unknown;
  clientAddress?: string | null;
}

export interface SystemAlerts {
  webhookDisabled: boolean;
  webhookDisabledRecently?: boolean;
  webhookEventsPending?: number;
  webhooks?: {
    methodWebhookId: string;
    type: string;
    status: string;
    error: unknown;
    lastDisabledAt: string | null;
  }[];
}

export interface UiSettings {
  requireSecondApprover: boolean;
}
