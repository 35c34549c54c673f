// Roles and what each may write; shared by server and web so buttons and routes agree.
export const ROLES = ['admin', 'operator', 'approver', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** Role lists used by route declarations (admin is always included). */
export const CAN = {
  read: ['admin', 'operator', 'approver', 'auditor'],
  upload: ['admin', 'operator'],
  reject: ['admin', 'operator', 'approver'],
  approve: ['admin', 'approver'],
  operate: ['admin', 'operator'],
  cancelBatch: ['admin', 'approver'],
  approveReversal: ['admin', 'approver'],
  manageUsers: ['admin'],
  reconcile: ['admin', 'operator'],
} as const satisfies Record<string, readonly Role[]>;
