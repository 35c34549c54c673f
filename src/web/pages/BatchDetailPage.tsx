// One batch: for a draft, its review; once approved, summary cards, live progress, a chart of
// status by branch and by source, and the virtualised payments list with a detail drawer.
import { Anchor, Breadcrumbs, Group, Paper, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { lazy, Suspense, useState } from 'react';
import { Link, useParams } from 'react-router';
import { STATUS_GROUPS } from '../../shared/statuses';
import { BatchControls, ReportsMenu } from '../components/BatchActions';
import { BatchReview } from '../components/BatchReview';
import { type PaymentFilters, PaymentsList } from '../components/PaymentsList';
import { Stat } from '../components/Stat';
import { ErrorState, Loading } from '../components/states';
import { BatchStatusBadge, GROUP_COLOR, GROUP_LABEL, GroupProgress } from '../components/status';
import { isLive, useBatch, useLiveProgress } from '../lib/batches';
import { formatCount, formatDateTime, formatDollars, formatDuration } from '../lib/format';

const StatusCharts = lazy(() => import('../components/StatusCharts'));

export function BatchDetailPage() {
  const { id } = useParams();
  const [filters, setFilters] = useState<PaymentFilters>({});
  const first = useBatch(id);
  const live = useLiveProgress(id, isLive(first.data?.status));
  const q = useBatch(id, { poll: live.mode === 'poll' });
  if (q.isPending) return <Loading />;
  if (q.isError) return <ErrorState error={q.error} what="the batch" />;
  const b = q.data;
  const approved = !!b.approvedAt;
  const done = b.counts.paid + b.counts.failed + b.counts.returned + b.counts.cancelled;
  return (
    <Stack gap="lg">
      <Breadcrumbs>
        <Anchor component={Link} to="/batches" size="sm">
          Batches
        </Anchor>
        <Text size="sm">{b.fileName}</Text>
      </Breadcrumbs>
      <Group justify="space-between" align="flex-start">
        <div>
          <Group gap="sm">
            <Title order={2}>{b.fileName}</Title>
            <BatchStatusBadge status={b.status} />
          </Group>
          <Text size="sm" c="dimmed">
            Uploaded {formatDateTime(b.uploadedAt)} by {b.uploadedBy ?? '—'}
            {b.approvedAt ? ` · approved ${formatDateTime(b.approvedAt)} by ${b.approvedBy}` : ''}
            {b.rejectedAt
              ? ` · rejected ${formatDateTime(b.rejectedAt)} by ${b.rejectedBy}: ${b.rejectReason}`
              : ''}
          </Text>
        </div>
        <Group gap="xs">
          <BatchControls batch={b} size="sm" />
          <ReportsMenu batch={b} />
        </Group>
      </Group>
      {!approved ? (
        <BatchReview batch={b} onShowFlag={(flag) => setFilters({ flag })} />
      ) : (
        <>
          <SimpleGrid cols={{ base: 2, md: 6 }}>
            <Stat
              label="Total"
              value={formatDollars(b.totalCents)}
              note={`${formatCount(b.rowCount)} payments`}
              testId="card-total"
            />
            {STATUS_GROUPS.map((g) => (
              <Stat
                key={g}
                label={GROUP_LABEL[g]}
                color={GROUP_COLOR[g]}
                value={formatDollars(b.amountsCents[g])}
                note={`${formatCount(b.counts[g])} payments`}
                testId={`card-${g}`}
              />
            ))}
          </SimpleGrid>
          <Paper withBorder p="md">
            <Group justify="space-between" mb={6}>
              <Text size="sm" fw={600}>
                Progress
              </Text>
              <Text size="sm" c="dimmed" className="num" data-testid="detail-progress">
                {formatCount(done)} of {formatCount(b.rowCount)} final
                {isLive(b.status) ? ` · ETA ${formatDuration(b.etaSeconds)}` : ''}
                {isLive(b.status) ? (live.mode === 'sse' ? ' · live' : ' · refreshing every 2 s') : ''}
              </Text>
            </Group>
            <GroupProgress counts={b.counts} total={b.rowCount} />
          </Paper>
          {b.summary ? (
            <Suspense fallback={<Loading label="Loading chart…" />}>
              <StatusCharts batch={b} />
            </Suspense>
          ) : null}
        </>
      )}
      <Paper withBorder p="md">
        <Title order={4} mb="sm">
          {approved ? 'Payments' : 'Rows'}
        </Title>
        <PaymentsList batch={b} filters={filters} onFiltersChange={setFilters} />
      </Paper>
    </Stack>
  );
}
