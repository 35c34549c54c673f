// A summary card: a label, a big figure (money right-aligned in tabular figures) and a note.
import { Paper, Text } from '@mantine/core';
import type { ReactNode } from 'react';

export function Stat({
  label,
  value,
  note,
  color,
  testId,
}: {
  label: string;
  value: ReactNode;
  note?: ReactNode;
  color?: string;
  testId?: string;
}) {
  return (
    <Paper withBorder p="md" className="stat-card" data-testid={testId}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600} style={{ letterSpacing: '0.03em' }}>
        {color ? (
          <span className="dot" style={{ background: `var(--mantine-color-${color}-6)`, marginRight: 6 }} />
        ) : null}
        {label}
      </Text>
      <Text size="xl" fw={700} className="num" mt={4}>
        {value}
      </Text>
      {note ? (
        <Text size="xs" c="dimmed" className="num">
          {note}
        </Text>
      ) : null}
    </Paper>
  );
}
