// The books: does the ledger balance, reconciliation runs with their findings, and the audit log.
import {
  Alert,
  Badge,
  Button,
  Code,
  Group,
  Paper,
  SimpleGrid,
  Stack,
  Table,
  Tabs,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import {
  keepPreviousData,
  useInfiniteQuery,
  useMutation,
  useQuery,
  useQueryClient,
} from '@tanstack/react-query';
import type { ColumnDef } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { Stat } from '../components/Stat';
import { Empty, ErrorState, Loading } from '../components/states';
import { VirtualTable } from '../components/VirtualTable';
import { api, qs } from '../lib/api';
import { useAuth } from '../lib/auth';
import { formatCount, formatDateTime, formatDollars } from '../lib/format';
import type { AuditEntry, LedgerCheck, Page, ReconRun } from '../lib/types';

function LedgerPanel() {
  const q = useQuery({ queryKey: ['ledger-check'], queryFn: () => api<LedgerCheck>('/api/ledger/check') });
  if (q.isPending) return <Loading label="Checking the ledger…" />;
  if (q.isError) return <ErrorState error={q.error} what="the ledger check" />;
  const l = q.data;
  return (
    <Stack data-testid="ledger-check">
      <Group>
        <Badge size="lg" color={l.balanced ? 'teal' : 'red'} variant="filled" radius="sm">
          {l.balanced ? 'Balanced' : 'Not balanced'}
        </Badge>
        <Button size="xs" variant="default" onClick={() => void q.refetch()} loading={q.isFetching}>
          Check again
        </Button>
      </Group>
      <SimpleGrid cols={{ base: 1, sm: 3 }}>
        <Stat label="Total debits" value={formatDollars(l.totalDebitsCents)} />
        <Stat label="Total credits" value={formatDollars(l.totalCreditsCents)} />
        <Stat label="Postings" value={l.postings !== undefined ? formatCount(Number(l.postings)) : '—'} />
      </SimpleGrid>
      {l.unbalancedPostings?.length ? (
        <Alert color="red" title={`${l.unbalancedPostings.length} postings do not balance`}>
          {l.unbalancedPostings
            .slice(0, 20)
            .map((p) => `#${p.postingId} (${formatDollars(p.sumCents)})`)
            .join(', ')}
        </Alert>
      ) : null}
      {l.accountMismatches?.length ? (
        <Table withTableBorder fz="sm" aria-label="Accounts that differ from their payments">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Account</Table.Th>
              <Table.Th ta="right">Ledger</Table.Th>
              <Table.Th ta="right">Payments</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {l.accountMismatches.map((m) => (
              <Table.Tr key={`${m.kind}:${m.ref}`}>
                <Table.Td className="mono">
                  {m.kind}:{m.ref}
                </Table.Td>
                <Table.Td ta="right" className="num">
                  {formatDollars(m.ledgerCents)}
                </Table.Td>
                <Table.Td ta="right" className="num">
                  {formatDollars(m.paymentsCents)}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : (
        <Text size="sm" c="dimmed">
          Every account agrees with the payments behind it.
        </Text>
      )}
    </Stack>
  );
}

function RunFindings({ id }: { id: string }) {
  const q = useQuery({
    queryKey: ['recon-run', id],
    queryFn: () => api<{ run: ReconRun }>(`/api/reconciliation/runs/${id}`),
    refetchInterval: (qq) => (qq.state.data?.run.status === 'running' ? 1500 : false),
  });
  if (q.isPending) return <Loading />;
  if (q.isError) return <ErrorState error={q.error} what="the run" />;
  const f = q.data.run.findings ?? [];
  if (q.data.run.status === 'running') return <Loading label="Reconciling…" />;
  if (!f.length)
    return (
      <Text size="sm" c="teal.8">
        No findings: payments, aggregates, ledger and Method agree.
      </Text>
    );
  return (
    <Table withTableBorder fz="xs" aria-label="Findings">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Check</Table.Th>
          <Table.Th>Entity</Table.Th>
          <Table.Th>Expected</Table.Th>
          <Table.Th>Actual</Table.Th>
          <Table.Th ta="right">Difference</Table.Th>
          <Table.Th>Repaired</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {f.map((x, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: findings of a finished run never change
          <Table.Tr key={i}>
            <Table.Td>{x.check}</Table.Td>
            <Table.Td className="mono">
              {x.entityType} {x.entityId}
            </Table.Td>
            <Table.Td>
              <Code>{JSON.stringify(x.expected)}</Code>
            </Table.Td>
            <Table.Td>
              <Code>{JSON.stringify(x.actual)}</Code>
            </Table.Td>
            <Table.Td ta="right" className="num">
              {x.differenceCents === null ? '—' : formatDollars(x.differenceCents)}
            </Table.Td>
            <Table.Td>{x.repaired ? 'yes' : 'no'}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function ReconPanel() {
  const { can } = useAuth();
  const qc = useQueryClient();
  const [open, setOpen] = useState<string | null>(null);
  const runs = useQuery({
    queryKey: ['recon-runs'],
    queryFn: () => api<Page<ReconRun>>('/api/reconciliation/runs?limit=50'),
    refetchInterval: (q) => (q.state.data?.items.some((r) => r.status === 'running') ? 2000 : false),
  });
  const start = useMutation({
    mutationFn: () => api<{ run: ReconRun }>('/api/reconciliation/run', { method: 'POST' }),
    onSuccess: (r) => {
      setOpen(r.run.id);
      void qc.invalidateQueries({ queryKey: ['recon-runs'] });
    },
    onError: (e) =>
      notifications.show({ color: 'red', title: 'Could not start', message: (e as Error).message }),
  });
  return (
    <Stack>
      <Group>
        <Button onClick={() => start.mutate()} loading={start.isPending} disabled={!can('reconcile')}>
          Run reconciliation
        </Button>
        <Text size="sm" c="dimmed">
          Compares aggregates, the ledger and Method with the payments; safe differences are repaired.
        </Text>
      </Group>
      {runs.isPending ? (
        <Loading />
      ) : runs.isError ? (
        <ErrorState error={runs.error} what="reconciliation runs" />
      ) : runs.data.items.length === 0 ? (
        <Empty title="No reconciliation runs yet" />
      ) : (
        <Table withTableBorder highlightOnHover fz="sm" aria-label="Reconciliation runs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Started</Table.Th>
              <Table.Th>Finished</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th ta="right">Findings</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {runs.data.items.map((r) => (
              <Table.Tr key={r.id}>
                <Table.Td>{formatDateTime(r.startedAt)}</Table.Td>
                <Table.Td>{formatDateTime(r.finishedAt)}</Table.Td>
                <Table.Td>
                  <Badge
                    color={r.status === 'done' ? 'teal' : r.status === 'failed' ? 'red' : 'blue'}
                    variant="light"
                  >
                    {r.status}
                  </Badge>
                </Table.Td>
                <Table.Td ta="right">{r.findingCount ?? r.findings?.length ?? '—'}</Table.Td>
                <Table.Td>
                  <Button
                    size="compact-xs"
                    variant="subtle"
                    onClick={() => setOpen(open === r.id ? null : r.id)}
                  >
                    {open === r.id ? 'Hide' : 'Findings'}
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {open ? (
        <Paper withBorder p="md">
          <RunFindings id={open} />
        </Paper>
      ) : null}
    </Stack>
  );
}

function AuditPanel() {
  const [entityType, setEntityType] = useState('');
  const [action, setAction] = useState('');
  const [et] = useDebouncedValue(entityType.trim(), 300);
  const [ac] = useDebouncedValue(action.trim(), 300);
  const q = useInfiniteQuery({
    queryKey: ['audit', et, ac],
    queryFn: ({ pageParam }) =>
      api<Page<AuditEntry>>(`/api/audit${qs({ entityType: et, action: ac, limit: 200, cursor: pageParam })}`),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (p) => p.nextCursor ?? undefined,
    placeholderData: keepPreviousData,
  });
  const rows = useMemo(() => q.data?.pages.flatMap((p) => p.items) ?? [], [q.data]);
  const cols = useMemo<ColumnDef<AuditEntry>[]>(
    () => [
      {
        accessorKey: 'at',
        header: 'When',
        cell: (c) => formatDateTime(c.getValue<string>()),
        meta: { width: '160px' },
      },
      {
        accessorKey: 'username',
        header: 'Who',
        cell: (c) => c.getValue<string>() ?? 'system',
        meta: { width: '120px' },
      },
      {
        accessorKey: 'action',
        header: 'Action',
        cell: (c) => <span className="mono">{c.getValue<string>()}</span>,
        meta: { width: '200px' },
      },
      {
        id: 'entity',
        header: 'Entity',
        cell: (c) => (
          <span className="mono">
            {c.row.original.entityType} {c.row.original.entityId ?? ''}
          </span>
        ),
        meta: { width: 'minmax(200px, 1fr)' },
      },
      {
        accessorKey: 'details',
        header: 'Details',
        cell: (c) => {
          const t = c.getValue() ? JSON.stringify(c.getValue()) : '';
          return (
            <Text size="xs" c="dimmed" truncate title={t} className="mono">
              {t}
            </Text>
          );
        },
        meta: { width: 'minmax(240px, 2fr)' },
      },
    ],
    [],
  );
  return (
    <Stack gap="xs">
      <Group>
        <TextInput
          label="Entity type"
          placeholder="batch, payment, user…"
          value={entityType}
          onChange={(e) => setEntityType(e.currentTarget.value)}
        />
        <TextInput
          label="Action"
          placeholder="batch.approve…"
          value={action}
          onChange={(e) => setAction(e.currentTarget.value)}
        />
      </Group>
      {q.isError ? (
        <ErrorState error={q.error} what="the audit log" />
      ) : (
        <VirtualTable
          data={rows}
          columns={cols}
          label="Audit log"
          height="calc(100vh - 300px)"
          onEndReached={q.hasNextPage && !q.isFetchingNextPage ? () => void q.fetchNextPage() : undefined}
          loadingMore={q.isFetching}
          getRowId={(r) => r.id}
          emptyText={q.isPending ? 'Loading…' : 'No audit entries match'}
          testId="audit-table"
        />
      )}
    </Stack>
  );
}

export function BooksPage() {
  return (
    <Stack>
      <Title order={2}>Books</Title>
      <Tabs defaultValue="ledger" keepMounted={false}>
        <Tabs.List mb="md">
          <Tabs.Tab value="ledger">Ledger check</Tabs.Tab>
          <Tabs.Tab value="recon">Reconciliation</Tabs.Tab>
          <Tabs.Tab value="audit">Audit log</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="ledger">
          <LedgerPanel />
        </Tabs.Panel>
        <Tabs.Panel value="recon">
          <ReconPanel />
        </Tabs.Panel>
        <Tabs.Panel value="audit">
          <AuditPanel />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
