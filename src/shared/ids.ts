// The file's ids as typed by a person: `emp-A7F1…` and `EMP-a7f1…` name the same employee.

/** `EMP-` + the lowercase UUID the customer's file uses. */
export function normalizeEmployeeId(q: string): string {
  return `EMP-${q.slice(4).toLowerCase()}`;
}
