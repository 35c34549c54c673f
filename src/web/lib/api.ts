// The one HTTP client of the web app: same-origin cookie session, the CSRF header on writes, and
// api.md's error body turned into an ApiError the pages can show.
import type { Me } from './types';

let csrfToken: string | null = null;
let onUnauthenticated: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}
export function onSessionLost(fn: () => void): void {
  onUnauthenticated = fn;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

async function toApiError(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: keep the status text
  }
  const e = (
    body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | null
  )?.error;
  return new ApiError(
    res.status,
    e?.code ?? `HTTP_${res.status}`,
    e?.message ?? res.statusText,
    e?.details ?? {},
  );
}

function headersFor(method: string, extra?: HeadersInit): Headers {
  const h = new Headers(extra);
  h.set('accept', 'application/json');
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) h.set('x-csrf-token', csrfToken);
  return h;
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const method = init.method ?? 'GET';
  const headers = headersFor(method);
  let body: BodyInit | undefined;
  if (init.body !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.body);
  }
  const res = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: init.signal });
  if (!res.ok) {
    const err = await toApiError(res);
    if (err.status === 401 && path !== '/api/auth/login') onUnauthenticated?.();
    throw err;
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

export async function login(username: string, password: string): Promise<Me> {
  const r = await api<{ user: Me['user']; csrfToken: string }>('/api/auth/login', {
    method: 'POST',
    body: { username, password },
  });
  setCsrfToken(r.csrfToken);
  return { user: r.user, csrfToken: r.csrfToken };
}

/** Uploads through XHR because fetch cannot report upload progress. */
export function uploadFile(
  file: File,
  onProgress: (fraction: number) => void,
): { promise: Promise<unknown>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<unknown>((resolve, reject) => {
    xhr.open('POST', '/api/batches');
    xhr.setRequestHeader('accept', 'application/json');
    if (csrfToken) xhr.setRequestHeader('x-csrf-token', csrfToken);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // leave null
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      const e = (
        body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | null
      )?.error;
      if (xhr.status === 401) onUnauthenticated?.();
      reject(
        new ApiError(
          xhr.status,
          e?.code ?? `HTTP_${xhr.status}`,
          e?.message ?? xhr.statusText,
          e?.details ?? {},
        ),
      );
    };
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'The upload could not reach the server'));
    xhr.onabort = () => reject(new ApiError(0, 'ABORTED', 'Upload cancelled'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/** Is this error an endpoint that is not there (yet)? Pages then show a plain "not available". */
export const isMissingEndpoint = (e: unknown): boolean =>
  e instanceof ApiError && e.status === 404 && e.code === 'NOT_FOUND' && e.message.startsWith('No route');
