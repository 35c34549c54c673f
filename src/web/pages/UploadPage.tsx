// Upload a payroll file: drag-and-drop or pick, see upload progress, then either every error
// (filterable, downloadable) or the draft review with Approve / Reject.
import {
  Alert,
  Anchor,
  Button,
  Group,
  Paper,
  Progress,
  Select,
  Stack,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { Dropzone } from '@mantine/dropzone';
import { useQueryClient } from '@tanstack/react-query';
import type { ColumnDef } from '@tanstack/react-table';
import { useMemo, useRef, useState } from 'react';
import { Link } from 'react-router';
import { BatchReview } from '../components/BatchReview';
import { VirtualTable } from '../components/VirtualTable';
import { ApiError, uploadFile } from '../lib/api';
import { useBatch } from '../lib/batches';
import { downloadCsv, formatCount } from '../lib/format';
import type { Batch } from '../lib/types';

interface FileError {
  row: number;
  field: string;
  code: string;
  message: string;
}

type State =
  | { kind: 'idle' }
  | { kind: 'uploading'; name: string; fraction: number }
  | { kind: 'processing'; name: string }
  | { kind: 'invalid'; name: string; errorCount: number; truncated: boolean; errors: FileError[] }
  | { kind: 'failed'; name: string; error: ApiError }
  | { kind: 'draft'; batchId: string };

const errorCols: ColumnDef<FileError>[] = [
  { accessorKey: 'row', header: 'Row', meta: { width: '80px', align: 'right' } },
  { accessorKey: 'field', header: 'Field', meta: { width: 'minmax(160px, 1fr)' } },
  { accessorKey: 'code', header: 'Code', meta: { width: '200px' } },
  {
    accessorKey: 'message',
    header: 'Message',
    cell: (c) => <span title={c.getValue<string>()}>{c.getValue<string>()}</span>,
    meta: { width: 'minmax(260px, 3fr)' },
  },
];

function ErrorList({ state }: { state: Extract<State, { kind: 'invalid' }> }) {
  const [text, setText] = useState('');
  const [field, setField] = useState<string | null>(null);
  const fields = useMemo(() => [...new Set(state.errors.map((e) => e.field))].sort(), [state.errors]);
  const needle = text.trim().toLowerCase();
  const rows = state.errors.filter(
    (e) =>
      (!field || e.field === field) &&
      (!needle ||
        String(e.row) === needle ||
        `${e.field} ${e.code} ${e.message}`.toLowerCase().includes(needle)),
  );
  return (
    <Paper withBorder p="md" data-testid="upload-errors">
      <Stack>
        <Alert
          color="red"
          title={`${state.name} was not accepted: ${formatCount(state.errorCount)} errors`}
          role="alert"
        >
          Nothing was stored. Correct the file and upload it again.
          {state.truncated ? ` Only the first ${formatCount(state.errors.length)} errors are listed.` : ''}
        </Alert>
        <Group align="flex-end">
          <TextInput
            label="Filter errors"
            placeholder="Row number or text"
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            w={260}
          />
          <Select
            label="Field"
            placeholder="All fields"
            clearable
            data={fields}
            value={field}
            onChange={setField}
            w={240}
          />
          <Button
            variant="default"
            onClick={() =>
              downloadCsv(
                `${state.name.replace(/\.[^.]+$/, '')}-errors.csv`,
                ['row', 'field', 'code', 'message'],
                rows.map((e) => [e.row, e.field, e.code, e.message]),
              )
            }
          >
            Download {rows.length === state.errors.length ? 'all' : formatCount(rows.length)} as CSV
          </Button>
        </Group>
        <Text size="xs" c="dimmed" aria-live="polite">
          {formatCount(rows.length)} of {formatCount(state.errors.length)} errors shown
        </Text>
        <VirtualTable
          data={rows}
          columns={errorCols}
          label="File errors"
          height={Math.min(480, 40 + rows.length * 38)}
          testId="error-table"
        />
      </Stack>
    </Paper>
  );
}

function DraftView({ batchId }: { batchId: string }) {
  const q = useBatch(batchId);
  if (!q.data) return <Text c="dimmed">Loading the review…</Text>;
  const b: Batch = q.data;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={3}>Review: {b.fileName}</Title>
        <Anchor component={Link} to={`/batches/${b.id}`} size="sm">
          Open the batch with all its rows →
        </Anchor>
      </Group>
      <BatchReview batch={b} />
    </Stack>
  );
}

export function UploadPage() {
  const qc = useQueryClient();
  const [state, setState] = useState<State>({ kind: 'idle' });
  const abortRef = useRef<(() => void) | null>(null);
  const start = async (file: File) => {
    setState({ kind: 'uploading', name: file.name, fraction: 0 });
    const up = uploadFile(file, (fraction) =>
      setState(() =>
        fraction >= 1
          ? { kind: 'processing', name: file.name }
          : { kind: 'uploading', name: file.name, fraction },
      ),
    );
    abortRef.current = up.abort;
    try {
      const r = (await up.promise) as { batch: Batch };
      qc.setQueryData(['batch', r.batch.id], r.batch);
      void qc.invalidateQueries({ queryKey: ['batches'] });
      setState({ kind: 'draft', batchId: r.batch.id });
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, 'UNKNOWN', String(e));
      if (err.code === 'VALIDATION_FAILED') {
        const d = err.details as { errorCount?: number; truncated?: boolean; errors?: FileError[] };
        setState({
          kind: 'invalid',
          name: file.name,
          errorCount: d.errorCount ?? d.errors?.length ?? 0,
          truncated: !!d.truncated,
          errors: d.errors ?? [],
        });
      } else setState({ kind: 'failed', name: file.name, error: err });
    } finally {
      abortRef.current = null;
    }
  };
  const busy = state.kind === 'uploading' || state.kind === 'processing';
  return (
    <Stack gap="lg">
      <Title order={2}>Upload a payroll file</Title>
      <Dropzone
        onDrop={(files) => files[0] && void start(files[0])}
        onReject={() =>
          setState({
            kind: 'failed',
            name: 'file',
            error: new ApiError(0, 'NOT_XML', 'Choose one .xml file'),
          })
        }
        accept={{ 'application/xml': ['.xml'], 'text/xml': ['.xml'] }}
        multiple={false}
        disabled={busy}
        loading={false}
        aria-label="Drop an XML file here or press Enter to choose one"
        data-testid="dropzone"
      >
        <Stack align="center" gap={4} py="xl" style={{ pointerEvents: 'none' }}>
          <Text size="lg" fw={600}>
            Drag the XML file here, or click to choose it
          </Text>
          <Text size="sm" c="dimmed">
            One file per batch. Every row is checked before anything is stored.
          </Text>
        </Stack>
      </Dropzone>
      {state.kind === 'uploading' || state.kind === 'processing' ? (
        <Paper withBorder p="md" aria-live="polite">
          <Group justify="space-between" mb={6}>
            <Text size="sm">
              {state.kind === 'uploading'
                ? `Uploading ${state.name}… ${Math.floor(state.fraction * 100)}%`
                : `Checking every row of ${state.name}…`}
            </Text>
            {state.kind === 'uploading' ? (
              <Button size="compact-xs" variant="subtle" onClick={() => abortRef.current?.()}>
                Stop
              </Button>
            ) : null}
          </Group>
          <Progress
            value={state.kind === 'uploading' ? state.fraction * 100 : 100}
            animated={state.kind === 'processing'}
            aria-label="Upload progress"
          />
        </Paper>
      ) : null}
      {state.kind === 'failed' ? (
        <Alert color="red" title={`${state.name} was not accepted`} role="alert" data-testid="upload-failed">
          {state.error.message}
          {state.error.code === 'XML_MALFORMED' && state.error.details.line
            ? ` (line ${String(state.error.details.line)}, column ${String(state.error.details.column)})`
            : ''}
          {state.error.code === 'DUPLICATE_FILE' && state.error.details.batchId ? (
            <>
              {' '}
              <Anchor component={Link} to={`/batches/${String(state.error.details.batchId)}`}>
                Open the existing batch
              </Anchor>
            </>
          ) : null}
        </Alert>
      ) : null}
      {state.kind === 'invalid' ? <ErrorList state={state} /> : null}
      {state.kind === 'draft' ? <DraftView batchId={state.batchId} /> : null}
    </Stack>
  );
}
