// Employees and sources: a virtualised list searched on the server as you type, and a profile
// with the wallet (from the ledger) and payment history. Account numbers only as ••••1234.
import {
  Anchor,
  Badge,
  Grid,
  Group,
  Paper,
  SimpleGrid,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useInfiniteQuery, useQuery } from '@tanstack/react-query';
import type { ColumnDef } from '@tanstack/react-table';
import { useCallback, useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { PaymentDrawer } from '../components/PaymentDrawer';
import { Stat } from '../components/Stat';
import { Empty, ErrorState, Loading } from '../components/states';
import { PaymentStatusBadge } from '../components/status';
import { VirtualTable } from '../components/VirtualTable';
import { api, qs } from '../lib/api';
import { formatDateTime, formatDollars, mask, shortId } from '../lib/format';
import type {
  EmployeeListItem,
  EmployeeProfile,
  Page,
  Payment,
  SourceListItem,
  SourceProfile,
} from '../lib/types';

function useSearchList<T>(key: string, path: string, q: string) {
  const query = useInfiniteQuery({
    queryKey: [key, q],
    queryFn: ({ pageParam, signal }) =>
      api<Page<T>>(`${path}${qs({ q, limit: 500, cursor: pageParam })}`, { signal }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (p) => p.nextCursor ?? undefined,
    placeholderData: keepPreviousData,
  });
  const rows = useMemo(() => query.data?.pages.flatMap((p) => p.items) ?? [], [query.data]);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = query;
  const onEnd = useCallback(() => {
    if (hasNextPage && !isFetchingNextPage) void fetchNextPage();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);
  return { query, rows, onEnd };
}

function PaymentHistory({ payments }: { payments: Payment[] }) {
  const [openId, setOpenId] = useState<string | null>(null);
  if (!payments.length) return <Text c="dimmed">No payments yet.</Text>;
  return (
    <>
      <Table
        fz="sm"
        highlightOnHover
        withTableBorder
        aria-label="Payment history"
        data-testid="payment-history"
      >
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Date</Table.Th>
            <Table.Th>Batch</Table.Th>
            <Table.Th ta="right">Amount</Table.Th>
            <Table.Th>Status</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {payments.map((p) => (
            <Table.Tr
              key={p.id ?? `${p.batchId}-${p.rowNumber}`}
              onClick={() => p.id && setOpenId(p.id)}
              style={{ cursor: 'pointer' }}
              tabIndex={0}
              onKeyDown={(e) => e.key === 'Enter' && p.id && setOpenId(p.id)}
            >
              <Table.Td>{formatDateTime(p.createdAt)}</Table.Td>
              <Table.Td>
                <Anchor
                  component={Link}
                  to={`/batches/${p.batchId}`}
                  size="xs"
                  className="mono"
                  onClick={(e) => e.stopPropagation()}
                >
                  {shortId(p.batchId)}
                </Anchor>
              </Table.Td>
              <Table.Td ta="right" className="num">
                {formatDollars(p.amountCents)}
              </Table.Td>
              <Table.Td>
                <PaymentStatusBadge status={p.status} group={p.group} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <PaymentDrawer paymentId={openId} onClose={() => setOpenId(null)} />
    </>
  );
}

function EmployeeProfileView({ id }: { id: string }) {
  const q = useQuery({
    queryKey: ['employee', id],
    queryFn: () => api<EmployeeProfile>(`/api/employees/${encodeURIComponent(id)}`),
  });
  if (q.isPending) return <Loading />;
  if (q.isError) return <ErrorState error={q.error} what="the employee" />;
  const { employee: e, wallet: w, payments } = q.data;
  return (
    <Stack data-testid="employee-profile">
      <div>
        <Title order={3}>
          {e.firstName} {e.lastName}
        </Title>
        <Text size="sm" c="dimmed" className="mono">
          {e.employeeId} · branch {e.branchId}
        </Text>
        <Text size="sm" c="dimmed">
          Phone {e.phoneMasked ?? '—'} · born {e.dobYear ?? '—'}
        </Text>
      </div>
      <SimpleGrid cols={{ base: 2, lg: 4 }}>
        <Stat
          label="Paid"
          color="teal"
          value={formatDollars(w.paidCents)}
          note={
            w.yearToDatePaidCents !== undefined
              ? `${formatDollars(w.yearToDatePaidCents)} this year`
              : undefined
          }
        />
        <Stat label="Pending" color="blue" value={formatDollars(w.pendingCents)} />
        <Stat label="Failed" color="red" value={formatDollars(w.failedCents)} />
        <Stat label="Returned" color="orange" value={formatDollars(w.returnedCents)} />
      </SimpleGrid>
      <div>
        <Title order={5} mb="xs">
          Loans
        </Title>
        <Group gap="xs">
          {e.loans.map((l) => (
            <Badge
              key={`${l.plaidId}-${l.loanAccountLast4}`}
              variant="outline"
              color="gray"
              radius="sm"
              size="lg"
            >
              {l.plaidId} · {mask(l.loanAccountLast4)}
            </Badge>
          ))}
        </Group>
      </div>
      <div>
        <Title order={5} mb="xs">
          Payments
        </Title>
        <PaymentHistory payments={payments} />
      </div>
    </Stack>
  );
}

function SourceProfileView({ id }: { id: string }) {
  const q = useQuery({
    queryKey: ['source', id],
    queryFn: () => api<SourceProfile>(`/api/sources/${encodeURIComponent(id)}`),
  });
  if (q.isPending) return <Loading />;
  if (q.isError) return <ErrorState error={q.error} what="the source" />;
  const { source: s, wallet: w, payments } = q.data;
  return (
    <Stack data-testid="source-profile">
      <div>
        <Title order={3}>{s.name}</Title>
        <Text size="sm" c="dimmed" className="mono">
          {s.sourceId}
        </Text>
        <Text size="sm" c="dimmed">
          {s.dba ? `DBA ${s.dba} · ` : ''}routing {s.routing} · account {mask(s.accountLast4)}
        </Text>
      </div>
      <SimpleGrid cols={{ base: 2, lg: 4 }}>
        <Stat label="Paid" color="teal" value={formatDollars(w.paidCents)} />
        <Stat label="Pending" color="blue" value={formatDollars(w.pendingCents)} />
        <Stat label="Failed" color="red" value={formatDollars(w.failedCents)} />
        <Stat label="Returned" color="orange" value={formatDollars(w.returnedCents)} />
      </SimpleGrid>
      <div>
        <Title order={5} mb="xs">
          Payments
        </Title>
        <PaymentHistory payments={payments} />
      </div>
    </Stack>
  );
}

function ListAndProfile<T>({
  title,
  what,
  listKey,
  path,
  placeholder,
  columns,
  selected,
  idOf,
  base,
  profile,
}: {
  title: string;
  what: string;
  listKey: string;
  path: string;
  placeholder: string;
  columns: ColumnDef<T>[];
  selected: string | undefined;
  idOf: (row: T) => string;
  base: string;
  profile: React.ReactNode;
}) {
  const navigate = useNavigate();
  const [search, setSearch] = useState('');
  const [q] = useDebouncedValue(search.trim(), 200);
  const { query, rows, onEnd } = useSearchList<T>(listKey, path, q);
  return (
    <Stack>
      <Title order={2}>{title}</Title>
      <Grid gutter="lg">
        <Grid.Col span={{ base: 12, lg: 5 }}>
          <Stack gap="xs">
            <TextInput
              label={`Search ${what}`}
              placeholder={placeholder}
              value={search}
              onChange={(e) => setSearch(e.currentTarget.value)}
            />
            {query.isError ? (
              <ErrorState error={query.error} what={what} />
            ) : (
              <VirtualTable
                data={rows}
                columns={columns}
                label={title}
                height="calc(100vh - 240px)"
                onRowClick={(r) => navigate(`${base}/${encodeURIComponent(idOf(r))}`)}
                onEndReached={onEnd}
                loadingMore={query.isFetching}
                getRowId={idOf}
                emptyText={query.isPending ? 'Loading…' : `No ${what} match`}
                testId={`${listKey}-table`}
              />
            )}
          </Stack>
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 7 }}>
          <Paper withBorder p="lg" mih={300}>
            {selected ? (
              profile
            ) : (
              <Empty title={`Choose one of the ${what}`}>Its wallet and payment history appear here.</Empty>
            )}
          </Paper>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}

const employeeCols: ColumnDef<EmployeeListItem>[] = [
  {
    id: 'name',
    header: 'Name',
    accessorFn: (r) => `${r.firstName} ${r.lastName}`,
    meta: { width: 'minmax(140px, 1.5fr)' },
  },
  {
    accessorKey: 'employeeId',
    header: 'Id',
    cell: (c) => <span className="mono">{shortId(c.getValue<string>())}</span>,
    meta: { width: '130px' },
  },
  {
    accessorKey: 'paidCents',
    header: 'Paid',
    cell: (c) => formatDollars(c.getValue<number>()),
    meta: { width: '110px', align: 'right' },
  },
  {
    accessorKey: 'pendingCents',
    header: 'Pending',
    cell: (c) => formatDollars(c.getValue<number>()),
    meta: { width: '110px', align: 'right' },
  },
];

const sourceCols: ColumnDef<SourceListItem>[] = [
  { accessorKey: 'name', header: 'Name', meta: { width: 'minmax(140px, 1.5fr)' } },
  {
    accessorKey: 'accountLast4',
    header: 'Account',
    cell: (c) => mask(c.getValue<string>()),
    meta: { width: '90px' },
  },
  {
    accessorKey: 'paidCents',
    header: 'Paid',
    cell: (c) => formatDollars(c.getValue<number>()),
    meta: { width: '120px', align: 'right' },
  },
  {
    accessorKey: 'pendingCents',
    header: 'Pending',
    cell: (c) => formatDollars(c.getValue<number>()),
    meta: { width: '120px', align: 'right' },
  },
];

export function EmployeesPage() {
  const { employeeId } = useParams();
  return (
    <ListAndProfile<EmployeeListItem>
      title="Employees"
      what="employees"
      listKey="employees"
      path="/api/employees"
      placeholder="Name or EMP- id"
      columns={employeeCols}
      selected={employeeId}
      idOf={(r) => r.employeeId}
      base="/employees"
      profile={employeeId ? <EmployeeProfileView id={employeeId} /> : null}
    />
  );
}

export function SourcesPage() {
  const { sourceId } = useParams();
  return (
    <ListAndProfile<SourceListItem>
      title="Sources"
      what="sources"
      listKey="sources"
      path="/api/sources"
      placeholder="Name or CORP- id"
      columns={sourceCols}
      selected={sourceId}
      idOf={(r) => r.sourceId}
      base="/sources"
      profile={sourceId ? <SourceProfileView id={sourceId} /> : null}
    />
  );
}
