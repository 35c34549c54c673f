// The frame of every page: header (user, role, logout), navigation, the webhook banner.
import { Alert, AppShell, Badge, Button, Group, Stack, Text } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Suspense } from 'react';
import { NavLink, Outlet, useNavigation } from 'react-router';
import { Loading } from './components/states';
import { api, setCsrfToken } from './lib/api';
import { useAuth } from './lib/auth';
import type { SystemAlerts } from './lib/types';

const LINKS = [
  { to: '/upload', label: 'Upload', can: 'upload' as const },
  { to: '/batches', label: 'Batches' },
  { to: '/review', label: 'Needs review' },
  { to: '/employees', label: 'Employees' },
  { to: '/sources', label: 'Sources' },
  { to: '/books', label: 'Books' },
  { to: '/users', label: 'Users', can: 'manageUsers' as const },
];

function WebhookBanner() {
  const alerts = useQuery({
    queryKey: ['system-alerts'],
    queryFn: () => api<SystemAlerts>('/api/system/alerts'),
    refetchInterval: 30_000,
    retry: false,
  });
  if (!alerts.data?.webhookDisabled) return null;
  return (
    <Alert color="orange" title="Method has disabled our webhook" mb="md" role="alert">
      Payment updates now arrive by polling, so statuses may lag by a few minutes. LoanPay keeps trying to
      re-enable it
      {alerts.data.webhookEventsPending ? `; ${alerts.data.webhookEventsPending} events are waiting` : ''}.
    </Alert>
  );
}

export function Layout() {
  const { me, can } = useAuth();
  const qc = useQueryClient();
  const nav = useNavigation();
  const logout = async () => {
    try {
      await api('/api/auth/logout', { method: 'POST' });
    } finally {
      setCsrfToken(null);
      // Set `me` first (the login form replaces the app), then drop everything the user had loaded.
      // Clearing the whole cache instead would detach the login gate's observer from `me`.
      qc.setQueryData(['me'], null);
      qc.removeQueries({ predicate: (q) => q.queryKey[0] !== 'me' });
    }
  };
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 200, breakpoint: 'sm' }} padding="lg">
      <AppShell.Header>
        <Group h="100%" px="lg" justify="space-between">
          <Group gap={8}>
            <Text fw={750} size="lg" c="blue.8">
              LoanPay
            </Text>
            <Text size="sm" c="dimmed" visibleFrom="sm">
              Student-loan payments
            </Text>
          </Group>
          <Group gap="sm">
            <Text size="sm" fw={500} data-testid="current-user">
              {me.user.username}
            </Text>
            <Badge variant="light" color="gray" radius="sm" data-testid="current-role">
              {me.user.role}
            </Badge>
            <Button variant="default" size="xs" onClick={logout}>
              Log out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="sm" aria-label="Main">
        <Stack gap={2}>
          {LINKS.filter((l) => !l.can || can(l.can)).map((l) => (
            <NavLink key={l.to} to={l.to} className="nav-link">
              {l.label}
            </NavLink>
          ))}
        </Stack>
      </AppShell.Navbar>
      <AppShell.Main>
        <WebhookBanner />
        <Suspense fallback={<Loading />}>{nav.state === 'loading' ? <Loading /> : <Outlet />}</Suspense>
      </AppShell.Main>
    </AppShell>
  );
}
