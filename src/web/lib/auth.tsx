// Who is logged in: `GET /api/auth/me` cached by TanStack Query; a 401 anywhere logs the app out.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, type ReactNode, useContext, useEffect } from 'react';
import { CAN } from '../../shared/roles';
import { ApiError, api, onSessionLost, setCsrfToken } from './api';
import type { Me, UiSettings } from './types';

interface AuthState {
  me: Me;
  can: (action: keyof typeof CAN) => boolean;
  settings: UiSettings;
}

const AuthContext = createContext<AuthState | null>(null);

export function useMeQuery() {
  const qc = useQueryClient();
  useEffect(() => {
    onSessionLost(() => {
      setCsrfToken(null);
      qc.setQueryData(['me'], null);
    });
  }, [qc]);
  return useQuery({
    queryKey: ['me'],
    queryFn: async (): Promise<Me | null> => {
      try {
        const me = await api<Me>('/api/auth/me');
        setCsrfToken(me.csrfToken);
        return me;
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return null;
        throw e;
      }
    },
    staleTime: 5 * 60_000,
    retry: false,
  });
}

export function useSettings() {
  return useQuery({
    queryKey: ['ui-settings'],
    queryFn: async (): Promise<UiSettings> => {
      try {
        return await api<UiSettings>('/api/ui/settings');
      } catch {
        // Unknown: assume the safe default of api.md (maker-checker on).
        return { requireSecondApprover: true };
      }
    },
    staleTime: Number.POSITIVE_INFINITY,
  });
}

export function AuthProvider({ me, children }: { me: Me; children: ReactNode }) {
  const settings = useSettings().data ?? { requireSecondApprover: true };
  const can = (action: keyof typeof CAN) => (CAN[action] as readonly string[]).includes(me.user.role);
  return <AuthContext.Provider value={{ me, can, settings }}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}
