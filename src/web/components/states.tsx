// Loading, empty and error states every view uses, so nothing fails silently.
import { Alert, Center, Loader, Stack, Text } from '@mantine/core';
import type { ReactNode } from 'react';
import { ApiError, isMissingEndpoint } from '../lib/api';

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <Center py="xl" role="status" aria-live="polite">
      <Stack align="center" gap="xs">
        <Loader size="sm" />
        <Text size="sm" c="dimmed">
          {label}
        </Text>
      </Stack>
    </Center>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <Center py="xl">
      <Stack align="center" gap={4}>
        <Text fw={600}>{title}</Text>
        {children ? (
          <Text size="sm" c="dimmed" ta="center" maw={460}>
            {children}
          </Text>
        ) : null}
      </Stack>
    </Center>
  );
}

export function ErrorState({ error, what }: { error: unknown; what: string }) {
  if (isMissingEndpoint(error)) {
    return (
      <Alert color="gray" title={`${what} is not available on this server yet`} role="status">
        The server does not offer this endpoint. Update LoanPay to use this page.
      </Alert>
    );
  }
  const msg =
    error instanceof ApiError
      ? `${error.message} (${error.code})`
      : String((error as Error)?.message ?? error);
  return (
    <Alert color="red" title={`Could not load ${what}`} role="alert">
      {msg}
    </Alert>
  );
}

export function errorText(e: unknown): string {
  return e instanceof ApiError ? e.message : String((e as Error)?.message ?? e);
}
