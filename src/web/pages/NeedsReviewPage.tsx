// Payments waiting for a person, across batches, with the reason and Retry / Cancel / Approve
// reversal — each confirmed, each audited by the server.
import {
  Anchor,
  Button,
  Group,
  Modal,
  Paper,
  SegmentedControl,
  Stack,
  Text,
  Title,
  Tooltip,
} from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ColumnDef } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import { PaymentDrawer } from '../components/PaymentDrawer';
import { Empty, ErrorState, Loading } from '../components/states';
import { PaymentStatusBadge } from '../components/status';
import { VirtualTable } from '../components/VirtualTable';
import { api } from '../lib/api';
import { useAuth } from '../lib/auth';
import { formatCount, formatDateTime, formatDollars, shortId } from '../lib/format';
import type { Page, Payment } from '../lib/types';

type Act = 'retry' | 'cancel' | 'approve-reversal';
const ACT_TEXT: Record<Act, { title: string; body: string; button: string; color: string }> = {
  retry: {
    title: 'Retry this payment?',
    body: 'LoanPay first settles the previous attempt with Method, then sends a new attempt only if Method shows none went through.',
    button: 'Retry payment',
    color: 'blue',
  },
  cancel: {
    title: 'Cancel this payment?',
    body: 'The payment is not sent. It stays in every report as cancelled.',
    button: 'Cancel payment',
    color: 'red',
  },
  'approve-reversal': {
    title: 'Approve the reversal?',
    body: 'Method asks to reverse this payment: approving lets Method pull the money back from the source account.',
    button: 'Approve reversal',
    color: 'orange',
  },
};

export function NeedsReviewPage() {
  const { can } = useAuth();
  const qc = useQueryClient();
  const [status, setStatus] = useState<'needs_review' | 'failed'>('needs_review');
  const [openId, setOpenId] = useState<string | null>(null);
  const [pending, setPending] = useState<{ act: Act; p: Payment } | null>(null);
  const q = useQuery({
    queryKey: ['review', status],
    queryFn: () => api<Page<Payment>>(`/api/payments?status=${status}&limit=1000`),
    refetchInterval: 5000,
  });
  const act = useMutation({
    mutationFn: ({ act, p }: { act: Act; p: Payment }) =>
      api<unknown>(`/api/payments/${p.id}/${act}`, { method: 'POST' }),
    onSuccess: (_r, v) => {
      notifications.show({
        color: 'teal',
        title: ACT_TEXT[v.act].button,
        message: `Row ${v.p.rowNumber}, ${v.p.employeeName}: done`,
      });
      setPending(null);
      void qc.invalidateQueries({ queryKey: ['review'] });
      void qc.invalidateQueries({ queryKey: ['batches'] });
    },
    onError: (e) =>
      notifications.show({ color: 'red', title: 'That did not work', message: (e as Error).message }),
  });
  const columns = useMemo<ColumnDef<Payment>[]>(
    () => [
      {
        accessorKey: 'batchId',
        header: 'Batch',
        cell: (c) => (
          <Anchor
            component={Link}
            to={`/batches/${c.getValue<string>()}`}
            size="xs"
            className="mono"
            onClick={(e) => e.stopPropagation()}
          >
            {shortId(c.getValue<string>())}
          </Anchor>
        ),
        meta: { width: '110px' },
      },
      { accessorKey: 'rowNumber', header: 'Row', meta: { width: '60px', align: 'right' } },
      { accessorKey: 'employeeName', header: 'Employee', meta: { width: 'minmax(150px, 1fr)' } },
      {
        accessorKey: 'amountCents',
        header: 'Amount',
        cell: (c) => formatDollars(c.getValue<number>()),
        meta: { width: '110px', align: 'right' },
      },
      {
        accessorKey: 'status',
        header: 'Status',
        cell: (c) => <PaymentStatusBadge status={c.row.original.status} group={c.row.original.group} />,
        meta: { width: '120px' },
      },
      {
        id: 'reason',
        header: 'Reason',
        cell: (c) => {
          const p = c.row.original;
          const t =
            p.reviewReason ??
            (p.failureMessage ? `${p.failureCode ?? ''} ${p.failureMessage}` : (p.methodStatus ?? ''));
          return (
            <Text size="xs" truncate title={t}>
              {t}
            </Text>
          );
        },
        meta: { width: 'minmax(160px, 2fr)' },
      },
      {
        accessorKey: 'updatedAt',
        header: 'Since',
        cell: (c) => <Text size="xs">{formatDateTime(c.getValue<string>())}</Text>,
        meta: { width: '150px' },
      },
      {
        id: 'actions',
        header: 'Actions',
        cell: (c) => {
          const p = c.row.original;
          const reversal = p.methodStatus === 'reversal_required';
          const btn = (a: Act, label: string, allowed: boolean, why: string) => (
            <Tooltip label={why} disabled={allowed}>
              <span>
                <Button
                  size="compact-xs"
                  variant={a === 'cancel' ? 'subtle' : 'light'}
                  color={ACT_TEXT[a].color}
                  disabled={!allowed}
                  onClick={(e) => {
                    e.stopPropagation();
                    setPending({ act: a, p });
                  }}
                >
                  {label}
                </Button>
              </span>
            </Tooltip>
          );
          return (
            <Group gap={4} wrap="nowrap" onClick={(e) => e.stopPropagation()}>
              {reversal
                ? btn(
                    'approve-reversal',
                    'Approve reversal',
                    can('approveReversal'),
                    'Only an approver or admin can approve a reversal',
                  )
                : btn('retry', 'Retry', can('operate'), 'Only an operator or admin can retry')}
              {!reversal && p.status === 'needs_review'
                ? btn('cancel', 'Cancel', can('operate'), 'Only an operator or admin can cancel')
                : null}
            </Group>
          );
        },
        meta: { width: '210px' },
      },
    ],
    [can],
  );
  const rows = q.data?.items ?? [];
  const text = pending ? ACT_TEXT[pending.act] : null;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Needs review</Title>
        <SegmentedControl
          value={status}
          onChange={(v) => setStatus(v as 'needs_review' | 'failed')}
          data={[
            { value: 'needs_review', label: 'Needs review' },
            { value: 'failed', label: 'Failed (can retry)' },
          ]}
          aria-label="Which payments"
        />
      </Group>
      <Text size="sm" c="dimmed">
        {status === 'needs_review'
          ? 'Automatic handling stopped for these payments: a person decides. Their batch stays executing until each is resolved.'
          : 'Payments Method failed. Retry sends a new attempt once Method shows the old one did not move money.'}
      </Text>
      {q.isPending ? (
        <Loading />
      ) : q.isError ? (
        <ErrorState error={q.error} what="payments needing review" />
      ) : rows.length === 0 ? (
        <Paper withBorder>
          <Empty title={status === 'needs_review' ? 'Nothing needs review' : 'No failed payments'}>
            {status === 'needs_review' ? 'Every payment is moving on its own.' : ''}
          </Empty>
        </Paper>
      ) : (
        <>
          <Text size="xs" c="dimmed">
            {formatCount(rows.length)} payments · {formatDollars(rows.reduce((s, p) => s + p.amountCents, 0))}
          </Text>
          <VirtualTable
            data={rows}
            columns={columns}
            label={status === 'needs_review' ? 'Payments needing review' : 'Failed payments'}
            height="calc(100vh - 280px)"
            rowHeight={42}
            onRowClick={(p) => p.id && setOpenId(p.id)}
            getRowId={(p) => p.id ?? `${p.batchId}-${p.rowNumber}`}
            testId="review-table"
          />
        </>
      )}
      <Modal opened={!!pending} onClose={() => setPending(null)} title={<Text fw={700}>{text?.title}</Text>}>
        {pending && text ? (
          <Stack>
            <Text size="sm">
              Row {pending.p.rowNumber} · {pending.p.employeeName} ·{' '}
              <b className="num">{formatDollars(pending.p.amountCents)}</b>
            </Text>
            <Text size="sm">{text.body}</Text>
            <Group justify="flex-end">
              <Button variant="default" onClick={() => setPending(null)}>
                Back
              </Button>
              <Button color={text.color} loading={act.isPending} onClick={() => act.mutate(pending)}>
                {text.button}
              </Button>
            </Group>
          </Stack>
        ) : null}
      </Modal>
      <PaymentDrawer paymentId={openId} onClose={() => setOpenId(null)} />
    </Stack>
  );
}
