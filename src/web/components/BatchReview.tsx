// The draft review of an uploaded file: totals, by source and by branch, changes since the last
// batch, warnings by code, unpayable rows, the expected run time, and Approve / Reject.
import {
  Accordion,
  Alert,
  Badge,
  Button,
  Group,
  Modal,
  Paper,
  SimpleGrid,
  Stack,
  Table,
  Tabs,
  Text,
  Textarea,
  TextInput,
  Title,
  Tooltip,
} from '@mantine/core';
import { useInfiniteQuery } from '@tanstack/react-query';
import type { ColumnDef } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { api, qs } from '../lib/api';
import { useAuth } from '../lib/auth';
import { useBatchAction } from '../lib/batches';
import { formatCount, formatDateTime, formatDollars, formatDuration, shortId } from '../lib/format';
import type { Batch, BatchSummary, BranchLine, Page, SourceLine, WarningItem } from '../lib/types';
import { Stat } from './Stat';
import { humanize } from './status';
import { VirtualTable } from './VirtualTable';

const money = (cents: number) => formatDollars(cents);

export function approvalBlock(
  batch: Batch,
  userId: string,
  canApprove: boolean,
  role: string,
  requireSecondApprover: boolean,
): string | null {
  if (batch.status !== 'awaiting_approval') return `This batch is ${humanize(batch.status).toLowerCase()}`;
  if (!canApprove) return `Your role (${role}) cannot approve batches; an approver or admin must`;
  if (requireSecondApprover && batch.uploadedById && batch.uploadedById === userId)
    return 'You uploaded this batch: a second person must approve it (maker-checker)';
  if (batch.summary?.preflight.status === 'pending') return 'Checking loan servicers (pre-flight); a moment…';
  if (batch.summary?.preflight.status === 'failed')
    return 'The loan-servicer check (pre-flight) could not finish; LoanPay retries it, then Approve opens';
  return null;
}

function SourceTable({ rows }: { rows: SourceLine[] }) {
  const [q, setQ] = useState('');
  const cols = useMemo<ColumnDef<SourceLine>[]>(
    () => [
      { accessorKey: 'sourceName', header: 'Source', meta: { width: 'minmax(180px, 2fr)' } },
      {
        accessorKey: 'sourceId',
        header: 'Id',
        cell: (c) => <span className="mono">{shortId(c.getValue<string>())}</span>,
        meta: { width: '150px' },
      },
      {
        accessorKey: 'paymentCount',
        header: 'Payments',
        cell: (c) => formatCount(c.getValue<number>()),
        meta: { width: '110px', align: 'right' },
      },
      {
        accessorKey: 'totalCents',
        header: 'Total',
        cell: (c) => money(c.getValue<number>()),
        meta: { width: '150px', align: 'right' },
      },
    ],
    [],
  );
  const data = rows.filter(
    (r) => !q || `${r.sourceName} ${r.sourceId}`.toLowerCase().includes(q.toLowerCase()),
  );
  return (
    <Stack gap="xs">
      <TextInput
        label="Search sources"
        placeholder="Name or CORP- id"
        value={q}
        onChange={(e) => setQ(e.currentTarget.value)}
        w={300}
      />
      <VirtualTable
        data={data}
        columns={cols}
        label="Totals by source"
        sortable
        height={Math.min(400, 40 + data.length * 38)}
        testId="by-source"
      />
    </Stack>
  );
}

function BranchTable({ rows }: { rows: BranchLine[] }) {
  const [q, setQ] = useState('');
  const cols = useMemo<ColumnDef<BranchLine>[]>(
    () => [
      {
        accessorKey: 'branchId',
        header: 'Branch',
        cell: (c) => <span className="mono">{c.getValue<string>()}</span>,
        meta: { width: 'minmax(220px, 2fr)' },
      },
      {
        accessorKey: 'employeeCount',
        header: 'Employees',
        cell: (c) => formatCount(c.getValue<number>()),
        meta: { width: '110px', align: 'right' },
      },
      {
        accessorKey: 'paymentCount',
        header: 'Payments',
        cell: (c) => formatCount(c.getValue<number>()),
        meta: { width: '110px', align: 'right' },
      },
      {
        accessorKey: 'totalCents',
        header: 'Total',
        cell: (c) => money(c.getValue<number>()),
        meta: { width: '150px', align: 'right' },
      },
    ],
    [],
  );
  const data = rows.filter((r) => !q || r.branchId.toLowerCase().includes(q.toLowerCase()));
  return (
    <Stack gap="xs">
      <TextInput
        label="Search branches"
        placeholder="BRC- id"
        value={q}
        onChange={(e) => setQ(e.currentTarget.value)}
        w={300}
      />
      <VirtualTable
        data={data}
        columns={cols}
        label="Totals by branch"
        sortable
        height={Math.min(400, 40 + data.length * 38)}
        testId="by-branch"
      />
    </Stack>
  );
}

function WarningRows({ batchId, code }: { batchId: string; code: string }) {
  const [find, setFind] = useState('');
  const q = useInfiniteQuery({
    queryKey: ['warnings', batchId, code],
    queryFn: ({ pageParam }) =>
      api<Page<WarningItem>>(
        `/api/batches/${batchId}/warnings${qs({ code, limit: 1000, cursor: pageParam })}`,
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (p) => p.nextCursor ?? undefined,
  });
  const all = q.data?.pages.flatMap((p) => p.items) ?? [];
  const needle = find.trim().toLowerCase();
  const rows = needle
    ? all.filter((w) => String(w.row) === needle || `${w.field} ${w.message}`.toLowerCase().includes(needle))
    : all;
  const cols: ColumnDef<WarningItem>[] = [
    { accessorKey: 'row', header: 'Row', meta: { width: '80px', align: 'right' } },
    { accessorKey: 'field', header: 'Field', meta: { width: '180px' } },
    { accessorKey: 'message', header: 'Message', meta: { width: 'minmax(240px, 3fr)' } },
  ];
  return (
    <Stack gap="xs">
      <TextInput
        label={`Find a row with ${code}`}
        placeholder="Row number or text"
        value={find}
        onChange={(e) => setFind(e.currentTarget.value)}
        w={300}
      />
      <VirtualTable
        data={rows}
        columns={cols}
        label={`Rows with warning ${code}`}
        height={Math.min(320, 40 + rows.length * 38)}
        onEndReached={q.hasNextPage && !q.isFetchingNextPage ? () => void q.fetchNextPage() : undefined}
        loadingMore={q.isFetching}
        emptyText={q.isPending ? 'Loading…' : 'No rows match'}
      />
    </Stack>
  );
}

function Warnings({ batchId, summary }: { batchId: string; summary: BatchSummary }) {
  const codes = Object.entries(summary.warnings.byCode).sort((a, b) => b[1] - a[1]);
  if (!codes.length) return <Text c="dimmed">No warnings.</Text>;
  return (
    <Accordion variant="separated" multiple>
      {codes.map(([code, n]) => (
        <Accordion.Item key={code} value={code}>
          <Accordion.Control>
            <Group justify="space-between" pr="md">
              <Text fw={600} className="mono">
                {code}
              </Text>
              <Badge
                color={
                  code === 'UNPAYABLE_DESTINATION' || code === 'OVERLAPS_RECENT_BATCH' ? 'yellow' : 'gray'
                }
                variant="light"
              >
                {formatCount(n)} {n === 1 ? 'row' : 'rows'}
              </Badge>
            </Group>
          </Accordion.Control>
          <Accordion.Panel>
            <WarningRows batchId={batchId} code={code} />
          </Accordion.Panel>
        </Accordion.Item>
      ))}
    </Accordion>
  );
}

function ApproveDialog({ batch, opened, onClose }: { batch: Batch; opened: boolean; onClose: () => void }) {
  const action = useBatchAction(batch.id);
  const s = batch.summary;
  const payableCount = batch.rowCount - (s?.unpayable.count ?? 0);
  const payableCents = batch.totalCents - (s?.unpayable.totalCents ?? 0);
  return (
    <Modal opened={opened} onClose={onClose} title={<Text fw={700}>Approve this batch?</Text>} size="lg">
      <Stack>
        <Text size="sm">
          Approving sends these payments to Method. Money moves from each source account to the employees'
          loan servicers. This cannot be undone, only cancelled while payments are still pending.
        </Text>
        <SimpleGrid cols={2}>
          <Stat label="Payments to send" value={formatCount(payableCount)} testId="confirm-count" />
          <Stat label="Total to move" value={money(payableCents)} testId="confirm-total" />
        </SimpleGrid>
        {s && s.unpayable.count > 0 ? (
          <Alert color="yellow" title={`${formatCount(s.unpayable.count)} unpayable rows will be cancelled`}>
            {money(s.unpayable.totalCents)} is not sent: no payable loan servicer for these rows. They stay in
            every report as cancelled.
          </Alert>
        ) : null}
        <Table striped withTableBorder fz="sm" aria-label="What moves, by source">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Source</Table.Th>
              <Table.Th ta="right">Payments</Table.Th>
              <Table.Th ta="right">Total</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(s?.bySource ?? []).map((r) => (
              <Table.Tr key={r.sourceId}>
                <Table.Td>{r.sourceName}</Table.Td>
                <Table.Td ta="right" className="num">
                  {formatCount(r.paymentCount)}
                </Table.Td>
                <Table.Td ta="right" className="num">
                  {money(r.totalCents)}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
        <Text size="sm" c="dimmed">
          File {batch.fileName}, uploaded by <b>{batch.uploadedBy ?? 'unknown'}</b> on{' '}
          {formatDateTime(batch.uploadedAt)}.
        </Text>
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Back
          </Button>
          <Button
            color="teal"
            loading={action.isPending}
            onClick={() => action.mutate({ action: 'approve' }, { onSuccess: onClose })}
          >
            Approve and send {formatCount(payableCount)} payments
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function RejectDialog({ batch, opened, onClose }: { batch: Batch; opened: boolean; onClose: () => void }) {
  const action = useBatchAction(batch.id);
  const [reason, setReason] = useState('');
  return (
    <Modal opened={opened} onClose={onClose} title={<Text fw={700}>Reject this batch?</Text>}>
      <Stack>
        <Text size="sm">Nothing is paid. The file can be corrected and uploaded again.</Text>
        <Textarea
          label="Reason"
          required
          value={reason}
          onChange={(e) => setReason(e.currentTarget.value)}
          autosize
          minRows={2}
        />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Back
          </Button>
          <Button
            color="red"
            disabled={!reason.trim()}
            loading={action.isPending}
            onClick={() => action.mutate({ action: 'reject', reason: reason.trim() }, { onSuccess: onClose })}
          >
            Reject batch
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

export function ApproveRejectBar({ batch }: { batch: Batch }) {
  const { me, can, settings } = useAuth();
  const [approving, setApproving] = useState(false);
  const [rejecting, setRejecting] = useState(false);
  const block = approvalBlock(
    batch,
    me.user.id,
    can('approve'),
    me.user.role,
    settings.requireSecondApprover,
  );
  if (batch.status !== 'awaiting_approval') return null;
  return (
    <Paper withBorder p="md">
      <Group justify="space-between" wrap="wrap">
        <div>
          <Text fw={600}>Decision</Text>
          <Text size="sm" c={block ? 'orange.8' : 'dimmed'} data-testid="approve-reason">
            {block ?? `Ready to approve: ${formatCount(batch.rowCount)} rows, ${money(batch.totalCents)}`}
          </Text>
        </div>
        <Group>
          <Button variant="default" color="red" onClick={() => setRejecting(true)} disabled={!can('reject')}>
            Reject…
          </Button>
          <Tooltip label={block} disabled={!block}>
            <span>
              <Button
                color="teal"
                disabled={!!block}
                onClick={() => setApproving(true)}
                aria-describedby="approve-reason"
              >
                Approve…
              </Button>
            </span>
          </Tooltip>
        </Group>
      </Group>
      <ApproveDialog batch={batch} opened={approving} onClose={() => setApproving(false)} />
      <RejectDialog batch={batch} opened={rejecting} onClose={() => setRejecting(false)} />
    </Paper>
  );
}

export function BatchReview({ batch, onShowFlag }: { batch: Batch; onShowFlag?: (flag: string) => void }) {
  const s = batch.summary;
  if (!s) return null;
  const c = s.changes;
  const changeItems: [string, number, string][] = [
    ['New employees', c.newEmployees, 'NEW_EMPLOYEE'],
    ['New loan accounts', c.newLoanAccounts, 'NEW_LOAN_ACCOUNT'],
    ['Employees with changed details', c.changedEmployees, 'CHANGED_EMPLOYEE'],
    ['Sources with new bank details', c.changedSources, 'SOURCE_DETAILS_CHANGED'],
  ];
  return (
    <Stack gap="lg" data-testid="draft-review">
      <SimpleGrid cols={{ base: 2, md: 5 }}>
        <Stat label="Rows" value={formatCount(batch.rowCount)} testId="review-rows" />
        <Stat label="Total" value={money(batch.totalCents)} testId="review-total" />
        <Stat
          label="Unpayable (pre-flight)"
          value={s.preflight.status === 'pending' ? 'Checking…' : money(s.unpayable.totalCents)}
          note={
            s.preflight.status === 'pending'
              ? 'asking Method about loan servicers'
              : `${formatCount(s.unpayable.count)} rows`
          }
          color={s.unpayable.count ? 'yellow' : undefined}
          testId="review-unpayable"
        />
        <Stat
          label="Warnings"
          value={formatCount(s.warnings.count)}
          note={`${Object.keys(s.warnings.byCode).length} kinds`}
        />
        <Stat
          label="Expected run time"
          value={batch.etaSeconds === null ? 'No limit' : formatDuration(batch.etaSeconds)}
          note={
            batch.etaSeconds === null ? 'no payment rate limit is configured' : "under Method's rate limit"
          }
          testId="review-eta"
        />
      </SimpleGrid>
      {s.preflight.status === 'failed' ? (
        <Alert color="orange" title="Pre-flight could not check every loan servicer yet">
          Method did not answer for some loan servicers. LoanPay retries on its own; approval waits until
          every row is checked, so no payment goes to a servicer that cannot receive it.
        </Alert>
      ) : null}
      <ApproveRejectBar batch={batch} />
      <Paper withBorder p="md">
        <Title order={4} mb="sm">
          Since the last batch
        </Title>
        <SimpleGrid cols={{ base: 2, md: 4 }}>
          {changeItems.map(([label, n, flag]) => (
            <Group key={flag} justify="space-between" wrap="nowrap">
              <Text size="sm">{label}</Text>
              {n > 0 && onShowFlag ? (
                <Button
                  size="compact-sm"
                  variant="light"
                  color="yellow"
                  onClick={() => onShowFlag(flag)}
                  aria-label={`Show ${n} rows: ${label}`}
                >
                  {formatCount(n)}
                </Button>
              ) : (
                <Text size="sm" fw={600} className="num">
                  {formatCount(n)}
                </Text>
              )}
            </Group>
          ))}
        </SimpleGrid>
      </Paper>
      <Paper withBorder p="md">
        <Tabs defaultValue="sources">
          <Tabs.List mb="sm">
            <Tabs.Tab value="sources">By source ({s.bySource.length})</Tabs.Tab>
            <Tabs.Tab value="branches">By branch ({s.byBranch.length})</Tabs.Tab>
            <Tabs.Tab value="warnings">Warnings ({formatCount(s.warnings.count)})</Tabs.Tab>
            <Tabs.Tab value="unpayable">Unpayable ({formatCount(s.unpayable.count)})</Tabs.Tab>
          </Tabs.List>
          <Tabs.Panel value="sources">
            <SourceTable rows={s.bySource} />
          </Tabs.Panel>
          <Tabs.Panel value="branches">
            <BranchTable rows={s.byBranch} />
          </Tabs.Panel>
          <Tabs.Panel value="warnings">
            <Warnings batchId={batch.id} summary={s} />
          </Tabs.Panel>
          <Tabs.Panel value="unpayable">
            {s.unpayable.count === 0 ? (
              <Text c="dimmed">
                {s.preflight.status === 'pending'
                  ? 'Pre-flight is still running.'
                  : 'Every row has a payable loan servicer.'}
              </Text>
            ) : (
              <Stack>
                <Text size="sm">
                  <b>{formatCount(s.unpayable.count)}</b> rows totalling{' '}
                  <b className="num">{money(s.unpayable.totalCents)}</b> have no payable loan servicer.
                  Approving books them as cancelled; they are never sent.
                </Text>
                <Table withTableBorder fz="sm" aria-label="Unpayable rows by Plaid id" maw={520}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Plaid id</Table.Th>
                      <Table.Th ta="right">Rows</Table.Th>
                      <Table.Th ta="right">Total</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {s.unpayable.byPlaidId.map((p) => (
                      <Table.Tr key={p.plaidId}>
                        <Table.Td className="mono">{p.plaidId}</Table.Td>
                        <Table.Td ta="right" className="num">
                          {formatCount(p.count)}
                        </Table.Td>
                        <Table.Td ta="right" className="num">
                          {money(p.totalCents)}
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
                {onShowFlag ? (
                  <Button variant="light" w="fit-content" onClick={() => onShowFlag('UNPAYABLE_DESTINATION')}>
                    Show these rows
                  </Button>
                ) : null}
              </Stack>
            )}
          </Tabs.Panel>
        </Tabs>
      </Paper>
    </Stack>
  );
}
