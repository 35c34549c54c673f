// One colour per status group everywhere, always with text; needs_review stands out in amber.
import { Badge, Group, Progress, Text, Tooltip } from '@mantine/core';
import type { BatchStatus, GroupCounts, StatusGroup } from '../../shared/statuses';
import { STATUS_GROUPS } from '../../shared/statuses';
import { formatCount, formatDollars } from '../lib/format';

export const GROUP_COLOR: Record<StatusGroup, string> = {
  paid: 'teal',
  pending: 'blue',
  failed: 'red',
  returned: 'orange',
  cancelled: 'gray',
};

export const GROUP_LABEL: Record<StatusGroup, string> = {
  paid: 'Paid',
  pending: 'Pending',
  failed: 'Failed',
  returned: 'Returned',
  cancelled: 'Cancelled',
};

const BATCH_COLOR: Record<BatchStatus, string> = {
  awaiting_approval: 'violet',
  approved: 'blue',
  executing: 'blue',
  paused: 'yellow',
  completed: 'teal',
  completed_with_exceptions: 'orange',
  rejected: 'red',
  cancelling: 'gray',
  cancelled: 'gray',
};

export const humanize = (s: string): string => (s.charAt(0).toUpperCase() + s.slice(1)).replace(/_/g, ' ');

export function BatchStatusBadge({ status }: { status: BatchStatus }) {
  return (
    <Badge color={BATCH_COLOR[status]} variant={status === 'executing' ? 'filled' : 'light'} radius="sm">
      {humanize(status)}
    </Badge>
  );
}

export function PaymentStatusBadge({ status, group }: { status: string; group: StatusGroup | null }) {
  if (status === 'needs_review') {
    return (
      <Badge color="yellow.7" variant="filled" radius="sm" c="black">
        Needs review
      </Badge>
    );
  }
  if (status === 'draft') {
    return (
      <Badge color="gray" variant="outline" radius="sm">
        Draft
      </Badge>
    );
  }
  return (
    <Badge color={GROUP_COLOR[group ?? 'pending']} variant="light" radius="sm">
      {humanize(status)}
    </Badge>
  );
}

/** A stacked bar of the five groups, with a legend in text (never colour alone). */
export function GroupProgress({
  counts,
  total,
  size = 'lg',
}: {
  counts: GroupCounts;
  total: number;
  size?: string;
}) {
  const denom = Math.max(total, 1);
  const done = counts.paid + counts.failed + counts.returned + counts.cancelled;
  const pct = Math.floor((done / denom) * 100);
  return (
    <Progress.Root size={size} aria-label={`${pct}% final: ${done} of ${total} payments`}>
      {(['paid', 'returned', 'failed', 'cancelled'] as const).map((g) =>
        counts[g] > 0 ? (
          <Tooltip key={g} label={`${GROUP_LABEL[g]}: ${formatCount(counts[g])}`}>
            <Progress.Section value={(counts[g] / denom) * 100} color={GROUP_COLOR[g]} />
          </Tooltip>
        ) : null,
      )}
    </Progress.Root>
  );
}

export function GroupCountsLine({ counts, amounts }: { counts: GroupCounts; amounts?: GroupCounts }) {
  return (
    <Group gap="md" wrap="wrap">
      {STATUS_GROUPS.map((g) => (
        <Group key={g} gap={4} wrap="nowrap">
          <span
            className="dot"
            style={{ background: `var(--mantine-color-${GROUP_COLOR[g]}-6)` }}
            aria-hidden
          />
          <Text size="xs" c="dimmed">
            {GROUP_LABEL[g]}
          </Text>
          <Text size="xs" fw={600} className="num">
            {formatCount(counts[g])}
          </Text>
          {amounts ? (
            <Text size="xs" c="dimmed" className="num">
              {formatDollars(amounts[g])}
            </Text>
          ) : null}
        </Group>
      ))}
    </Group>
  );
}
