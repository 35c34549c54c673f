// Pause / Resume / Cancel (confirmed, with a reason) and the three CSV reports of a batch.
import { Button, Group, Menu, Modal, Stack, Text, Textarea, Tooltip } from '@mantine/core';
import { useState } from 'react';
import { useAuth } from '../lib/auth';
import { reportUrl, useBatchAction } from '../lib/batches';
import { formatCount, formatDollars } from '../lib/format';
import type { Batch } from '../lib/types';

export function ReportsMenu({ batch }: { batch: Batch }) {
  return (
    <Menu position="bottom-end" withinPortal>
      <Menu.Target>
        <Button variant="default" size="xs" aria-label={`Download CSV reports for ${batch.fileName}`}>
          CSV ▾
        </Button>
      </Menu.Target>
      <Menu.Dropdown>
        {(['payments', 'sources', 'branches'] as const).map((k) => (
          <Menu.Item key={k} component="a" href={reportUrl(batch.id, k)} download data-testid={`csv-${k}`}>
            {k}.csv
          </Menu.Item>
        ))}
      </Menu.Dropdown>
    </Menu>
  );
}

export function BatchControls({ batch, size = 'xs' }: { batch: Batch; size?: string }) {
  const { can } = useAuth();
  const action = useBatchAction(batch.id);
  const [cancelling, setCancelling] = useState(false);
  const [reason, setReason] = useState('');
  const running = batch.status === 'executing' || batch.status === 'approved';
  const paused = batch.status === 'paused';
  const cancellable = running || paused;
  const operateWhy = can('operate') ? undefined : 'Only an operator or admin can pause or resume';
  const cancelWhy = can('cancelBatch') ? undefined : 'Only an approver or admin can cancel a batch';
  if (!cancellable) return null;
  return (
    <Group gap={6} wrap="nowrap">
      {running ? (
        <Tooltip label={operateWhy} disabled={!operateWhy}>
          <span>
            <Button
              size={size}
              variant="default"
              disabled={!!operateWhy}
              loading={action.isPending && action.variables?.action === 'pause'}
              onClick={() => action.mutate({ action: 'pause' })}
            >
              Pause
            </Button>
          </span>
        </Tooltip>
      ) : (
        <Tooltip label={operateWhy} disabled={!operateWhy}>
          <span>
            <Button
              size={size}
              variant="light"
              disabled={!!operateWhy}
              loading={action.isPending && action.variables?.action === 'resume'}
              onClick={() => action.mutate({ action: 'resume' })}
            >
              Resume
            </Button>
          </span>
        </Tooltip>
      )}
      <Tooltip label={cancelWhy} disabled={!cancelWhy}>
        <span>
          <Button
            size={size}
            variant="subtle"
            color="red"
            disabled={!!cancelWhy}
            onClick={() => setCancelling(true)}
          >
            Cancel…
          </Button>
        </span>
      </Tooltip>
      <Modal
        opened={cancelling}
        onClose={() => setCancelling(false)}
        title={<Text fw={700}>Cancel this batch?</Text>}
      >
        <Stack>
          <Text size="sm">
            {formatCount(batch.counts.pending)} pending payments ({formatDollars(batch.amountsCents.pending)})
            stop. Payments Method has not received are cancelled at once; those Method already holds are
            cancelled there if it still can. Paid payments are not affected.
          </Text>
          <Textarea
            label="Reason"
            required
            value={reason}
            onChange={(e) => setReason(e.currentTarget.value)}
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setCancelling(false)}>
              Back
            </Button>
            <Button
              color="red"
              disabled={!reason.trim()}
              loading={action.isPending}
              onClick={() =>
                action.mutate(
                  { action: 'cancel', reason: reason.trim() },
                  { onSuccess: () => setCancelling(false) },
                )
              }
            >
              Cancel batch
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Group>
  );
}
