// Users (admin): create users, change roles, disable (which ends their sessions).
import {
  Alert,
  Badge,
  Button,
  Group,
  Paper,
  PasswordInput,
  Select,
  Stack,
  Switch,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { ROLES, type Role } from '../../shared/roles';
import { ErrorState, errorText, Loading } from '../components/states';
import { api } from '../lib/api';
import { useAuth } from '../lib/auth';
import { formatDateTime } from '../lib/format';
import type { Page, User } from '../lib/types';

const ROLE_HELP: Record<Role, string> = {
  admin: 'everything',
  operator: 'upload, reject, pause/resume, retry/cancel payments',
  approver: 'approve, reject, cancel batches, approve reversals',
  auditor: 'read only',
};

function CreateUser() {
  const qc = useQueryClient();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('operator');
  const create = useMutation({
    mutationFn: () =>
      api<{ user: User }>('/api/users', {
        method: 'POST',
        body: { username: username.trim(), password, role },
      }),
    onSuccess: (r) => {
      notifications.show({
        color: 'teal',
        title: 'User created',
        message: `${r.user.username} (${r.user.role})`,
      });
      setUsername('');
      setPassword('');
      void qc.invalidateQueries({ queryKey: ['users'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} aria-label="Create a user">
        <Stack gap="sm">
          <Title order={4}>New user</Title>
          {create.isError ? (
            <Alert color="red" role="alert">
              {errorText(create.error)}
            </Alert>
          ) : null}
          <Group align="flex-end" wrap="wrap">
            <TextInput
              label="Username"
              required
              value={username}
              onChange={(e) => setUsername(e.currentTarget.value)}
              name="new-username"
            />
            <PasswordInput
              label="Password"
              description="At least 10 characters"
              required
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
              name="new-password"
              autoComplete="new-password"
              w={220}
            />
            <Select
              label="Role"
              data={ROLES.map((r) => ({ value: r, label: r }))}
              value={role}
              onChange={(v) => v && setRole(v as Role)}
              allowDeselect={false}
              w={150}
              name="new-role"
            />
            <Button type="submit" loading={create.isPending}>
              Create user
            </Button>
          </Group>
          <Text size="xs" c="dimmed">
            {role}: {ROLE_HELP[role]}
          </Text>
        </Stack>
      </form>
    </Paper>
  );
}

export function UsersPage() {
  const { can, me } = useAuth();
  const qc = useQueryClient();
  const users = useQuery({ queryKey: ['users'], queryFn: () => api<Page<User>>('/api/users') });
  const update = useMutation({
    mutationFn: ({ id, patch }: { id: string; patch: { role?: Role; disabled?: boolean } }) =>
      api<{ user: User }>(`/api/users/${id}`, { method: 'PATCH', body: patch }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['users'] }),
    onError: (e) => notifications.show({ color: 'red', title: 'Not changed', message: errorText(e) }),
  });
  if (!can('manageUsers')) return <Alert color="gray">Only an admin can manage users.</Alert>;
  return (
    <Stack>
      <Title order={2}>Users</Title>
      <CreateUser />
      {users.isPending ? (
        <Loading />
      ) : users.isError ? (
        <ErrorState error={users.error} what="users" />
      ) : (
        <Paper withBorder>
          <Table verticalSpacing="sm" aria-label="Users">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Username</Table.Th>
                <Table.Th>Role</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Active</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {users.data.items.map((u) => (
                <Table.Tr key={u.id} data-testid={`user-${u.username}`}>
                  <Table.Td fw={500}>
                    {u.username}{' '}
                    {u.id === me.user.id ? (
                      <Badge size="xs" variant="light">
                        you
                      </Badge>
                    ) : null}
                  </Table.Td>
                  <Table.Td>
                    <Select
                      aria-label={`Role of ${u.username}`}
                      data={ROLES.map((r) => ({ value: r, label: r }))}
                      value={u.role}
                      onChange={(v) =>
                        v && v !== u.role && update.mutate({ id: u.id, patch: { role: v as Role } })
                      }
                      allowDeselect={false}
                      disabled={u.id === me.user.id}
                      w={140}
                      size="xs"
                    />
                  </Table.Td>
                  <Table.Td>{formatDateTime(u.createdAt)}</Table.Td>
                  <Table.Td>
                    <Switch
                      aria-label={`${u.username} is active`}
                      checked={!u.disabled}
                      disabled={u.id === me.user.id}
                      onChange={(e) =>
                        update.mutate({ id: u.id, patch: { disabled: !e.currentTarget.checked } })
                      }
                    />
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
    </Stack>
  );
}
