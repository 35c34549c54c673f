// Every batch: status, totals, counts per status group and a live progress bar with its ETA,
// Pause / Resume / Cancel, and the CSV reports.
import { Anchor, Button, Group, Paper, Stack, Table, Text, Title } from '@mantine/core';
import { useEffect, useState } from 'react';
import { Link } from 'react-router';
import { BatchControls, ReportsMenu } from '../components/BatchActions';
import { Empty, ErrorState, Loading } from '../components/states';
import { BatchStatusBadge, GroupCountsLine, GroupProgress } from '../components/status';
import { useAuth } from '../lib/auth';
import { isLive, useBatches, useLiveProgress } from '../lib/batches';
import { formatCount, formatDateTime, formatDollars, formatDuration } from '../lib/format';
import type { Batch } from '../lib/types';

function LiveFeed({ id, onMode }: { id: string; onMode: (id: string, sse: boolean) => void }) {
  const { mode } = useLiveProgress(id, true);
  useEffect(() => onMode(id, mode === 'sse'), [id, mode, onMode]);
  return null;
}

function BatchRow({ b }: { b: Batch }) {
  const done = b.counts.paid + b.counts.failed + b.counts.returned + b.counts.cancelled;
  const approved = !!b.approvedAt;
  return (
    <Table.Tr data-testid={`batch-row-${b.id}`}>
      <Table.Td>
        <Anchor component={Link} to={`/batches/${b.id}`} fw={600} size="sm">
          {b.fileName}
        </Anchor>
        <Text size="xs" c="dimmed">
          {formatDateTime(b.uploadedAt)} · {b.uploadedBy ?? '—'}
          {b.approvedBy ? ` · approved by ${b.approvedBy}` : ''}
        </Text>
      </Table.Td>
      <Table.Td>
        <BatchStatusBadge status={b.status} />
      </Table.Td>
      <Table.Td ta="right" className="num">
        {formatCount(b.rowCount)}
      </Table.Td>
      <Table.Td ta="right" className="num">
        {formatDollars(b.totalCents)}
      </Table.Td>
      <Table.Td miw={280}>
        {approved ? (
          <Stack gap={4}>
            <GroupProgress counts={b.counts} total={b.rowCount} size="md" />
            <Group justify="space-between" gap="xs">
              <GroupCountsLine counts={b.counts} />
            </Group>
            <Text size="xs" c="dimmed" className="num" data-testid="batch-progress-text">
              {formatCount(done)} of {formatCount(b.rowCount)} final
              {isLive(b.status) && b.etaSeconds !== null
                ? ` · about ${formatDuration(b.etaSeconds)} left`
                : ''}
            </Text>
          </Stack>
        ) : (
          <Text size="xs" c="dimmed">
            {b.status === 'awaiting_approval'
              ? 'Waiting for approval'
              : b.rejectReason
                ? `Rejected: ${b.rejectReason}`
                : '—'}
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        <Group gap={6} justify="flex-end" wrap="nowrap">
          <BatchControls batch={b} />
          <ReportsMenu batch={b} />
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

export function BatchesPage() {
  const { can } = useAuth();
  const [sse, setSse] = useState<Record<string, boolean>>({});
  const onMode = useState(
    () => (id: string, ok: boolean) => setSse((m) => (m[id] === ok ? m : { ...m, [id]: ok })),
  )[0];
  const live0 = useBatches(false).data?.filter((b) => isLive(b.status)) ?? [];
  const needPoll = live0.some((b) => !sse[b.id]);
  const q = useBatches(needPoll);
  const batches = q.data ?? [];
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Batches</Title>
        {can('upload') ? (
          <Button component={Link} to="/upload">
            Upload a file
          </Button>
        ) : null}
      </Group>
      {live0.map((b) => (
        <LiveFeed key={b.id} id={b.id} onMode={onMode} />
      ))}
      {q.isPending ? (
        <Loading />
      ) : q.isError ? (
        <ErrorState error={q.error} what="batches" />
      ) : batches.length === 0 ? (
        <Paper withBorder>
          <Empty title="No batches yet">Upload a payroll file to create the first batch.</Empty>
        </Paper>
      ) : (
        <Paper withBorder>
          <Table verticalSpacing="sm" highlightOnHover aria-label="Batches">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>File</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th ta="right">Rows</Table.Th>
                <Table.Th ta="right">Total</Table.Th>
                <Table.Th>Progress</Table.Th>
                <Table.Th ta="right">Actions</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {batches.map((b) => (
                <BatchRow key={b.id} b={b} />
              ))}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </Stack>
  );
}
