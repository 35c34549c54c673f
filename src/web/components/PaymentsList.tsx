// A batch's payments (or draft lines): server-side filters, cursor pages of 1,000 loaded as the
// virtualised table scrolls, and a drawer for one payment.
import { Group, Select, Stack, Text, TextInput } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useInfiniteQuery } from '@tanstack/react-query';
import type { ColumnDef } from '@tanstack/react-table';
import { useCallback, useMemo, useState } from 'react';
import { PAYMENT_STATUSES, STATUS_GROUPS } from '../../shared/statuses';
import { api, qs } from '../lib/api';
import { formatCount, formatDateTime, formatDollars, shortId } from '../lib/format';
import type { Batch, Page, Payment } from '../lib/types';
import { PaymentDrawer } from './PaymentDrawer';
import { ErrorState } from './states';
import { GROUP_LABEL, humanize, PaymentStatusBadge } from './status';
import { VirtualTable } from './VirtualTable';

export interface PaymentFilters {
  status?: string;
  group?: string;
  branchId?: string;
  sourceId?: string;
  flag?: string;
}

const FLAGS = [
  'UNPAYABLE_DESTINATION',
  'NEW_EMPLOYEE',
  'NEW_LOAN_ACCOUNT',
  'CHANGED_EMPLOYEE',
  'SOURCE_DETAILS_CHANGED',
  'DUPLICATE_ROW',
  'OVERLAPS_RECENT_BATCH',
  'ANNUAL_LIMIT_EXCEEDED',
  'PHONE_SUSPECT',
  'EIN_NOT_9_DIGITS',
  'ZIP_STATE_MISMATCH',
];

export function PaymentsList({
  batch,
  filters,
  onFiltersChange,
}: {
  batch: Batch;
  filters: PaymentFilters;
  onFiltersChange: (f: PaymentFilters) => void;
}) {
  const [search, setSearch] = useState('');
  const [q] = useDebouncedValue(search.trim(), 250);
  const [openId, setOpenId] = useState<string | null>(null);
  const draft = !batch.approvedAt;
  const query = useInfiniteQuery({
    queryKey: ['payments', batch.id, filters, q],
    queryFn: ({ pageParam, signal }) =>
      api<Page<Payment>>(
        `/api/batches/${batch.id}/payments${qs({ ...filters, q, limit: 1000, cursor: pageParam })}`,
        { signal },
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (p) => p.nextCursor ?? undefined,
    placeholderData: keepPreviousData,
    staleTime: 10_000,
  });
  const rows = useMemo(() => query.data?.pages.flatMap((p) => p.items) ?? [], [query.data]);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = query;
  const onEnd = useCallback(() => {
    if (hasNextPage && !isFetchingNextPage) void fetchNextPage();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  const noFilter =
    !q && !filters.status && !filters.group && !filters.branchId && !filters.sourceId && !filters.flag;
  const knownTotal = noFilter
    ? batch.rowCount
    : filters.group && !q && !filters.status && !filters.branchId && !filters.sourceId && !filters.flag
      ? batch.counts[filters.group as keyof Batch['counts']]
      : undefined;

  const columns = useMemo<ColumnDef<Payment>[]>(
    () => [
      { accessorKey: 'rowNumber', header: 'Row', meta: { width: '70px', align: 'right' } },
      { accessorKey: 'employeeName', header: 'Employee', meta: { width: 'minmax(160px, 1.4fr)' } },
      {
        accessorKey: 'employeeId',
        header: 'Employee id',
        cell: (c) => <span className="mono">{shortId(c.getValue<string>())}</span>,
        meta: { width: '140px' },
      },
      {
        accessorKey: 'branchId',
        header: 'Branch',
        cell: (c) => <span className="mono">{shortId(c.getValue<string>())}</span>,
        meta: { width: '140px' },
      },
      {
        accessorKey: 'sourceId',
        header: 'Source',
        cell: (c) => <span className="mono">{shortId(c.getValue<string>())}</span>,
        meta: { width: '150px' },
      },
      {
        accessorKey: 'amountCents',
        header: 'Amount',
        cell: (c) => formatDollars(c.getValue<number>()),
        meta: { width: '120px', align: 'right' },
      },
      {
        accessorKey: 'status',
        header: 'Status',
        cell: (c) => <PaymentStatusBadge status={c.row.original.status} group={c.row.original.group} />,
        meta: { width: '140px' },
      },
      {
        id: 'note',
        header: draft ? 'Flags' : 'Failure / note',
        cell: (c) => {
          const p = c.row.original;
          const text = draft
            ? (p.flags ?? []).join(', ')
            : (p.reviewReason ?? p.failureCode ?? p.methodStatus ?? '');
          return (
            <span className="cell-note" title={text}>
              {text}
            </span>
          );
        },
        meta: { width: 'minmax(160px, 1.4fr)' },
      },
      {
        accessorKey: 'updatedAt',
        header: 'Updated',
        cell: (c) => <span className="cell-note">{formatDateTime(c.getValue<string>())}</span>,
        meta: { width: '150px' },
      },
    ],
    [draft],
  );

  const set = (k: keyof PaymentFilters) => (v: string | null) =>
    onFiltersChange({ ...filters, [k]: v ?? undefined });
  const s = batch.summary;
  return (
    <Stack gap="sm">
      <Group gap="sm" align="flex-end" wrap="wrap">
        <TextInput
          label="Search"
          placeholder="EMP- id or name"
          value={search}
          onChange={(e) => setSearch(e.currentTarget.value)}
          w={220}
        />
        {!draft ? (
          <>
            <Select
              label="Group"
              placeholder="All"
              clearable
              data={STATUS_GROUPS.map((g) => ({ value: g, label: GROUP_LABEL[g] }))}
              value={filters.group ?? null}
              onChange={set('group')}
              w={140}
            />
            <Select
              label="Status"
              placeholder="All"
              clearable
              data={PAYMENT_STATUSES.map((st) => ({ value: st, label: humanize(st) }))}
              value={filters.status ?? null}
              onChange={set('status')}
              w={160}
            />
          </>
        ) : null}
        <Select
          label="Branch"
          placeholder="All"
          clearable
          searchable
          data={(s?.byBranch ?? []).map((b) => ({ value: b.branchId, label: b.branchId }))}
          value={filters.branchId ?? null}
          onChange={set('branchId')}
          w={220}
        />
        <Select
          label="Source"
          placeholder="All"
          clearable
          searchable
          data={(s?.bySource ?? []).map((b) => ({ value: b.sourceId, label: b.sourceName }))}
          value={filters.sourceId ?? null}
          onChange={set('sourceId')}
          w={200}
        />
        <Select
          label="Flag"
          placeholder="Any"
          clearable
          data={FLAGS}
          value={filters.flag ?? null}
          onChange={set('flag')}
          w={230}
        />
      </Group>
      {query.isError ? (
        <ErrorState error={query.error} what="payments" />
      ) : (
        <>
          <Text size="xs" c="dimmed" aria-live="polite" data-testid="payments-count">
            {query.isPending
              ? 'Loading payments…'
              : `Showing ${formatCount(rows.length)}${knownTotal !== undefined ? ` of ${formatCount(knownTotal)}` : query.hasNextPage ? '+' : ''} ${draft ? 'rows' : 'payments'}`}
          </Text>
          <VirtualTable
            data={rows}
            columns={columns}
            label={draft ? 'Draft rows' : 'Payments'}
            height="calc(100vh - 260px)"
            onRowClick={draft ? undefined : (p) => p.id && setOpenId(p.id)}
            onEndReached={onEnd}
            loadingMore={query.isFetchingNextPage}
            totalCount={knownTotal}
            getRowId={(p) => String(p.rowNumber)}
            emptyText={query.isPending ? 'Loading…' : 'No payments match these filters'}
            testId="payments-table"
          />
        </>
      )}
      <PaymentDrawer paymentId={openId} onClose={() => setOpenId(null)} />
    </Stack>
  );
}
