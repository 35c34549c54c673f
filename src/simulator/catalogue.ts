// The simulator's merchant catalogue: the ten Plaid institution ids of the real Dunkin' file, each
// mapped to one or more merchants the way Method maps them (one merchant per liability vertical).
// The names and merchant ids are illustrative, not Method's real mapping.
import type { Merchant } from '../method/types.js';

interface Entry {
  id: string;
  name: string;
  parent: string;
  type: string;
  plaid: string[];
  /** Whether liability accounts at this merchant get the `payment` product. */
  payable: boolean;
  isTemp?: boolean;
}

const ENTRIES: Entry[] = [
  {
    id: 'mch_301001',
    name: 'Aidvantage',
    parent: 'Maximus',
    type: 'student_loans',
    plaid: ['ins_116944'],
    payable: true,
  },
  // A second vertical for the same institution that does not accept payments through Method.
  {
    id: 'mch_301002',
    name: 'Aidvantage Personal Loans',
    parent: 'Maximus',
    type: 'personal_loan',
    plaid: ['ins_116944'],
    payable: false,
  },
  {
    id: 'mch_301003',
    name: 'MOHELA',
    parent: 'MOHELA',
    type: 'student_loans',
    plaid: ['ins_116861'],
    payable: true,
  },
  {
    id: 'mch_301004',
    name: 'Sallie Mae - Student Loans',
    parent: 'Sallie Mae',
    type: 'student_loans',
    plaid: ['ins_108798'],
    payable: true,
  },
  {
    id: 'mch_301005',
    name: 'Sallie Mae - Credit Cards',
    parent: 'Sallie Mae',
    type: 'credit_card',
    plaid: ['ins_108798'],
    payable: true,
  },
  {
    id: 'mch_301006',
    name: 'Nelnet',
    parent: 'Nelnet',
    type: 'student_loans',
    plaid: ['ins_116304'],
    payable: true,
  },
  {
    id: 'mch_301007',
    name: 'EdFinancial Services',
    parent: 'EdFinancial',
    type: 'student_loans',
    plaid: ['ins_116866'],
    payable: true,
  },
  {
    id: 'mch_301008',
    name: 'Discover - Credit Cards',
    parent: 'Discover',
    type: 'credit_card',
    plaid: ['ins_116248'],
    payable: true,
  },
  {
    id: 'mch_301009',
    name: 'Discover - Student Loans',
    parent: 'Discover',
    type: 'student_loans',
    plaid: ['ins_116248'],
    payable: true,
  },
  // The real file's unpayable institution: Method has it only as a credit-card issuer.
  {
    id: 'mch_301010',
    name: 'Citizens - Credit Cards',
    parent: 'Citizens',
    type: 'credit_card',
    plaid: ['ins_116527'],
    payable: true,
  },
  // Method's enum carries both spellings; this one uses the singular.
  {
    id: 'mch_301011',
    name: 'Great Lakes Educational Loan Services',
    parent: 'Nelnet',
    type: 'student_loan',
    plaid: ['ins_116950'],
    payable: true,
  },
  {
    id: 'mch_301012',
    name: 'SoFi - Student Loans',
    parent: 'SoFi',
    type: 'student_loans',
    plaid: ['ins_116945'],
    payable: true,
  },
  {
    id: 'mch_301013',
    name: 'SoFi - Personal Loans',
    parent: 'SoFi',
    type: 'personal_loan',
    plaid: ['ins_116945'],
    payable: true,
  },
  // A temporary duplicate ahead of the permanent one: callers should prefer `is_temp: false`.
  {
    id: 'mch_301014',
    name: 'Navient (temporary)',
    parent: 'Navient',
    type: 'student_loans',
    plaid: ['ins_116947'],
    payable: true,
    isTemp: true,
  },
  {
    id: 'mch_301015',
    name: 'Navient',
    parent: 'Navient',
    type: 'student_loans',
    plaid: ['ins_116947'],
    payable: true,
  },
];

export const MERCHANTS: readonly Merchant[] = ENTRIES.map((e) => ({
  id: e.id,
  parent_name: e.parent,
  name: e.name,
  logo: null,
  type: e.type,
  provider_ids: { plaid: e.plaid, mx: [], finicity: [], dpp: [], rpps: [] },
  is_temp: e.isTemp ?? false,
  account_number_formats: ['########'],
}));

const BY_ID = new Map(MERCHANTS.map((m) => [m.id, m]));
const PAYABLE = new Set(ENTRIES.filter((e) => e.payable).map((e) => e.id));

export function findMerchant(id: string): Merchant | undefined {
  return BY_ID.get(id);
}

export function merchantAcceptsPayments(id: string): boolean {
  return PAYABLE.has(id);
}

export function searchMerchants(filter: {
  plaid?: string;
  mx?: string;
  finicity?: string;
  type?: string;
  name?: string;
}): Merchant[] {
  return MERCHANTS.filter(
    (m) =>
      (filter.plaid === undefined || m.provider_ids.plaid.includes(filter.plaid)) &&
      (filter.mx === undefined || m.provider_ids.mx.includes(filter.mx)) &&
      (filter.finicity === undefined || m.provider_ids.finicity.includes(filter.finicity)) &&
      (filter.type === undefined || m.type === filter.type) &&
      (filter.name === undefined || m.name.toLowerCase().includes(filter.name.toLowerCase())),
  );
}
