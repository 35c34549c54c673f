// Batch queries, live progress (SSE, else polling every 2 s) and the batch actions.
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import type { BatchStatus } from '../../shared/statuses';
import { api } from './api';
import type { Batch, Page, Progress } from './types';

export const LIVE_STATUSES: ReadonlySet<BatchStatus> = new Set([
  'approved',
  'executing',
  'paused',
  'cancelling',
]);
export const isLive = (s: BatchStatus | undefined): boolean => !!s && LIVE_STATUSES.has(s);

export function useBatches(pollLive: boolean) {
  return useQuery({
    queryKey: ['batches'],
    queryFn: () => api<Page<Batch> | Batch[]>('/api/batches?limit=200'),
    select: (d): Batch[] => (Array.isArray(d) ? d : d.items),
    refetchInterval: (q) => {
      const d = q.state.data;
      const items = d ? (Array.isArray(d) ? d : d.items) : [];
      return pollLive && items.some((b) => isLive(b.status) || b.summary?.preflight.status === 'pending')
        ? 2000
        : false;
    },
  });
}

export function useBatch(id: string | undefined, opts: { poll?: boolean } = {}) {
  return useQuery({
    queryKey: ['batch', id],
    enabled: !!id,
    queryFn: () => api<Batch>(`/api/batches/${id}`),
    refetchInterval: (q) => {
      const b = q.state.data;
      if (b?.status === 'awaiting_approval' && b.summary && b.summary.preflight.status !== 'complete')
        return 2000;
      return opts.poll && isLive(b?.status) ? 2000 : false;
    },
  });
}

/**
 * Progress of a running batch from `GET /api/batches/:id/events`. `mode` falls back to `poll`
 * when the server has no event stream (or it dropped), and callers then poll every 2 s.
 */
export function useLiveProgress(batchId: string | undefined, active: boolean) {
  const qc = useQueryClient();
  const [mode, setMode] = useState<'sse' | 'poll'>('sse');
  const [progress, setProgress] = useState<Progress | null>(null);
  useEffect(() => {
    if (!batchId || !active || typeof EventSource === 'undefined') return;
    const es = new EventSource(`/api/batches/${batchId}/events`);
    let lastStatus: string | null = null;
    es.addEventListener('progress', (ev) => {
      const p = JSON.parse((ev as MessageEvent<string>).data) as Progress;
      setMode('sse');
      setProgress(p);
      qc.setQueryData<Batch>(['batch', batchId], (old) => (old ? { ...old, ...p } : old));
      qc.setQueryData<Page<Batch> | Batch[]>(['batches'], (old) => {
        if (!old) return old;
        const patch = (items: Batch[]) => items.map((b) => (b.id === batchId ? { ...b, ...p } : b));
        return Array.isArray(old) ? patch(old) : { ...old, items: patch(old.items) };
      });
      // A status change reshapes the summary (by branch, by source): fetch it once.
      if (lastStatus !== null && lastStatus !== p.status)
        void qc.invalidateQueries({ queryKey: ['batch', batchId] });
      lastStatus = p.status;
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) setMode('poll');
    };
    return () => es.close();
  }, [batchId, active, qc]);
  return { mode: active ? mode : 'poll', progress };
}

type Action = 'approve' | 'reject' | 'pause' | 'resume' | 'cancel';
const PAST: Record<Action, string> = {
  approve: 'approved',
  reject: 'rejected',
  pause: 'paused',
  resume: 'resumed',
  cancel: 'cancelled',
};

export function useBatchAction(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ action, reason }: { action: Action; reason?: string }) =>
      api<{ batch: Batch }>(`/api/batches/${id}/${action}`, {
        method: 'POST',
        body: reason !== undefined ? { reason } : undefined,
      }),
    onSuccess: (r, v) => {
      qc.setQueryData<Batch>(['batch', id], (old) => ({ ...old, ...r.batch }));
      void qc.invalidateQueries({ queryKey: ['batches'] });
      void qc.invalidateQueries({ queryKey: ['batch', id] });
      void qc.invalidateQueries({ queryKey: ['payments', id] });
      notifications.show({ color: 'teal', title: `Batch ${PAST[v.action]}`, message: r.batch.fileName });
    },
    onError: (e) =>
      notifications.show({ color: 'red', title: 'That did not work', message: (e as Error).message }),
  });
}

export const reportUrl = (id: string, kind: 'payments' | 'sources' | 'branches') =>
  `/api/batches/${id}/reports/${kind}.csv`;
