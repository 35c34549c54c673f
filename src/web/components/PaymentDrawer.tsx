// One payment: its facts, every status change (timeline), Method attempts and ledger entries.
import {
  Badge,
  Drawer,
  Group,
  ScrollArea,
  SimpleGrid,
  Stack,
  Table,
  Text,
  Timeline,
  Title,
} from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api } from '../lib/api';
import { formatDateTime, formatDollars } from '../lib/format';
import type { PaymentDetail } from '../lib/types';
import { ErrorState, Loading } from './states';
import { humanize, PaymentStatusBadge } from './status';

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm">{children}</Text>
    </div>
  );
}

export function PaymentDrawer({ paymentId, onClose }: { paymentId: string | null; onClose: () => void }) {
  const q = useQuery({
    queryKey: ['payment', paymentId],
    enabled: !!paymentId,
    queryFn: () => api<PaymentDetail>(`/api/payments/${paymentId}`),
    refetchInterval: 5000,
  });
  const p = q.data;
  return (
    <Drawer
      opened={!!paymentId}
      onClose={onClose}
      position="right"
      size="lg"
      title={<Title order={4}>Payment {p ? `row ${p.rowNumber}` : ''}</Title>}
      scrollAreaComponent={ScrollArea.Autosize}
    >
      {q.isPending ? (
        <Loading />
      ) : q.isError ? (
        <ErrorState error={q.error} what="the payment" />
      ) : p ? (
        <Stack gap="lg" data-testid="payment-drawer">
          <Group justify="space-between">
            <Text size="xl" fw={700} className="num">
              {formatDollars(p.amountCents)}
            </Text>
            <PaymentStatusBadge status={p.status} group={p.group} />
          </Group>
          <SimpleGrid cols={2} spacing="sm">
            <Fact label="Employee">
              {p.employeeName} <span className="mono">{p.employeeId}</span>
            </Fact>
            <Fact label="Branch">
              <span className="mono">{p.branchId}</span>
            </Fact>
            <Fact label="Source">
              <span className="mono">{p.sourceId}</span>
            </Fact>
            <Fact label="Method payment">
              <span className="mono">{p.methodPaymentId ?? '—'}</span>{' '}
              {p.methodStatus ? `(${p.methodStatus})` : ''}
            </Fact>
            <Fact label="Attempts">{p.attempts}</Fact>
            <Fact label="Updated">{formatDateTime(p.updatedAt)}</Fact>
          </SimpleGrid>
          {p.reviewReason || p.failureMessage ? (
            <Text size="sm" c={p.status === 'needs_review' ? 'yellow.9' : 'red.8'}>
              {p.reviewReason ?? `${p.failureCode ?? ''} ${p.failureMessage ?? ''}`}
            </Text>
          ) : null}
          <div>
            <Title order={5} mb="xs">
              History
            </Title>
            <Timeline bulletSize={12} lineWidth={2} active={p.history.length}>
              {p.history.map((h, i) => (
                <Timeline.Item
                  // biome-ignore lint/suspicious/noArrayIndexKey: history is append-only and never reordered
                  key={i}
                  title={
                    <Group gap={6}>
                      <Text size="sm" fw={600}>
                        {humanize(h.toStatus)}
                      </Text>
                      {h.methodStatus ? (
                        <Badge size="xs" variant="outline" color="gray">
                          Method: {h.methodStatus}
                        </Badge>
                      ) : null}
                    </Group>
                  }
                >
                  <Text size="xs" c="dimmed">
                    {formatDateTime(h.at)} · {h.cause}
                    {h.actor ? ` · ${h.actor}` : ''}
                  </Text>
                </Timeline.Item>
              ))}
            </Timeline>
          </div>
          <div>
            <Title order={5} mb="xs">
              Ledger entries
            </Title>
            {p.ledgerEntries.length === 0 ? (
              <Text size="sm" c="dimmed">
                No postings yet.
              </Text>
            ) : (
              <Table fz="xs" withTableBorder aria-label="Ledger entries">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Posting</Table.Th>
                    <Table.Th>Account</Table.Th>
                    <Table.Th ta="right">Debit</Table.Th>
                    <Table.Th ta="right">Credit</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {p.ledgerEntries.map((e, i) => (
                    // biome-ignore lint/suspicious/noArrayIndexKey: entries are immutable and ordered
                    <Table.Tr key={i}>
                      <Table.Td>
                        #{e.postingId} {e.kind}
                        <Text size="xs" c="dimmed">
                          {formatDateTime(e.at)}
                        </Text>
                      </Table.Td>
                      <Table.Td className="mono">{e.account}</Table.Td>
                      <Table.Td ta="right" className="num">
                        {e.amountCents > 0 ? formatDollars(e.amountCents) : ''}
                      </Table.Td>
                      <Table.Td ta="right" className="num">
                        {e.amountCents < 0 ? formatDollars(-e.amountCents) : ''}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
          </div>
          {p.attemptsDetail.length ? (
            <div>
              <Title order={5} mb="xs">
                Method attempts
              </Title>
              <Table fz="xs" withTableBorder aria-label="Method attempts">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>#</Table.Th>
                    <Table.Th>Idempotency key</Table.Th>
                    <Table.Th>State</Table.Th>
                    <Table.Th ta="right">Calls</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {p.attemptsDetail.map((a) => (
                    <Table.Tr key={a.id}>
                      <Table.Td>{a.attemptNo}</Table.Td>
                      <Table.Td className="mono">{a.idempotencyKey}</Table.Td>
                      <Table.Td>
                        {a.state}
                        {a.lastOutcome ? ` (${a.lastOutcome})` : ''}
                      </Table.Td>
                      <Table.Td ta="right">{a.calls}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </div>
          ) : null}
        </Stack>
      ) : null}
    </Drawer>
  );
}
