// Status by branch and by source as stacked bars (counts per status group). Loaded lazily: the
// charting library is the largest dependency and only this page needs it.
import { BarChart } from '@mantine/charts';
import '@mantine/charts/styles.css';
import { Paper, SegmentedControl, Stack, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { memo, useState } from 'react';
import { STATUS_GROUPS } from '../../shared/statuses';
import { parseCsv } from '../lib/csv';
import { shortId } from '../lib/format';
import type { Batch } from '../lib/types';
import { Loading } from './states';
import { GROUP_COLOR, GROUP_LABEL } from './status';

type Bar = Record<string, string | number> & { name: string };

/** More bars than this make an unreadable chart and a slow page: show the largest ones. */
const MAX_BARS = 25;
const sizeOf = (b: Bar) => STATUS_GROUPS.reduce((n, g) => n + Number(b[GROUP_LABEL[g]] ?? 0), 0);

function fromSummary(batch: Batch, by: 'branch' | 'source'): Bar[] | null {
  const s = batch.summary;
  if (!s) return null;
  const lines = by === 'branch' ? s.byBranch : s.bySource;
  const known = lines.some((l) => STATUS_GROUPS.some((g) => l[`${g}Count`] > 0));
  // A summary without per-line group counts (an older server) is read from the report instead.
  if (!known && batch.approvedAt) return null;
  return lines.map((l) => ({
    name: 'sourceName' in l ? `${l.sourceName} (${shortId(l.sourceId)})` : shortId(l.branchId),
    ...Object.fromEntries(STATUS_GROUPS.map((g) => [GROUP_LABEL[g], l[`${g}Count`]])),
  }));
}

function StatusCharts({ batch }: { batch: Batch }) {
  const [by, setBy] = useState<'branch' | 'source'>('branch');
  const direct = fromSummary(batch, by);
  const report = useQuery({
    // Refreshed every 10 s while the batch runs, not on every progress tick.
    queryKey: ['chart-report', batch.id, by],
    enabled: direct === null,
    refetchInterval: batch.status === 'executing' || batch.status === 'cancelling' ? 10_000 : false,
    queryFn: async (): Promise<Bar[]> => {
      const res = await fetch(
        `/api/batches/${batch.id}/reports/${by === 'branch' ? 'branches' : 'sources'}.csv`,
      );
      if (!res.ok) throw new Error(`report answered ${res.status}`);
      return parseCsv(await res.text()).map((r) => ({
        name: by === 'branch' ? shortId(r.branch_id) : `${r.source_name} (${shortId(r.source_id)})`,
        ...Object.fromEntries(STATUS_GROUPS.map((g) => [GROUP_LABEL[g], Number(r[`${g}_count`] ?? 0)])),
      }));
    },
    placeholderData: (prev) => prev,
  });
  const all = direct ?? report.data;
  const data =
    all && all.length > MAX_BARS ? [...all].sort((a, b) => sizeOf(b) - sizeOf(a)).slice(0, MAX_BARS) : all;
  return (
    <Paper withBorder p="md">
      <Stack gap="sm">
        <SegmentedControl
          w="fit-content"
          size="xs"
          value={by}
          onChange={(v) => setBy(v as 'branch' | 'source')}
          data={[
            { value: 'branch', label: 'By branch' },
            { value: 'source', label: 'By source' },
          ]}
          aria-label="Chart grouping"
        />
        <Text size="xs" c="dimmed" id="status-chart-caption">
          Payments per status group, {by === 'branch' ? 'per branch' : 'per source'}
          {all && data && all.length > data.length
            ? ` — the ${data.length} largest of ${all.length} ${by === 'branch' ? 'branches' : 'sources'}`
            : ''}
        </Text>
        {!data ? (
          report.isError ? (
            <Text size="sm" c="red.8">
              Could not load the status counts: {(report.error as Error).message}
            </Text>
          ) : (
            <Loading label="Loading chart…" />
          )
        ) : (
          <div role="img" aria-labelledby="status-chart-caption">
            <BarChart
              h={Math.max(180, data.length * 34 + 70)}
              data={data}
              dataKey="name"
              type="stacked"
              orientation="vertical"
              yAxisProps={{ width: 220 }}
              withLegend
              series={STATUS_GROUPS.map((g) => ({ name: GROUP_LABEL[g], color: `${GROUP_COLOR[g]}.6` }))}
            />
          </div>
        )}
      </Stack>
    </Paper>
  );
}

// Re-renders only when the batch's figures change, not on every parent render.
export default memo(
  StatusCharts,
  (a, b) => a.batch.counts === b.batch.counts && a.batch.summary === b.batch.summary,
);
