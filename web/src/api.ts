// The console talks to the account and admin APIs with the session cookie
// (same origin). Errors keep the server's stable code so pages can translate them.
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public details?: unknown,
  ) {
    super(message);
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();
/** Called when any request answers 401: the session ended, show the sign-in page. */
export const onUnauthorized = (l: Listener) => (unauthorizedListeners.add(l), () => void unauthorizedListeners.delete(l));

export async function api<T = any>(path: string, init: { method?: string; body?: unknown; quiet401?: boolean } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    credentials: 'same-origin',
    headers: init.body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = data?.error ?? {};
    if (res.status === 401 && !init.quiet401) unauthorizedListeners.forEach((l) => l());
    throw new ApiError(res.status, e.code ?? `http_${res.status}`, e.message ?? res.statusText, e.details);
  }
  return data as T;
}

export const qs = (params: Record<string, string | number | undefined | null>) => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
};

export interface Me {
  id: string;
  email: string;
  nickname: string | null;
  role: 'user' | 'support' | 'admin';
  group: string | null;
  currency: string;
  balance: string;
  pending: string;
  available: string;
  /** false until the owner opens the verification link (keys, top-ups and codes wait for it). */
  email_verified?: boolean;
}
export interface UsageRow {
  id: string;
  created_at: string;
  endpoint: string;
  model: string | null;
  key: string | null;
  key_id: string | null;
  stream: boolean;
  status: number;
  error_code: string | null;
  error_message: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  cache_write_1h_tokens: number;
  reasoning_tokens?: number;
  tool_use_prompt_tokens?: number;
  cost: string;
  charged: boolean;
  charged_amount: string;
  uncollected: string;
  charge_reason: string | null;
  transfer_id: string | null;
  latency_ms: number | null;
}
export interface KeyRow {
  id: string;
  name: string | null;
  display: string;
  label: string;
  status: string;
  expires_at: string | null;
  limit: string | null;
  spent: string;
  models: string[] | null;
  ip_allowlist: string[] | null;
  created_at: string;
  last_used_at: string | null;
  key?: string;
}
export interface StatementLine {
  id: string;
  kind: string;
  amount: string;
  balance_after: string;
  reference: string | null;
  reason: string | null;
  created_at: string;
}
