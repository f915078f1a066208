import type { ApiKey } from './apiKeys.ts';
import { formatMoney } from '../ledger/money.ts';

// How accounts look to a caller: the same JSON from the HTTP API and `tally key --json`.

/** An API key without its secret (only the display prefix). */
export function keyView(k: ApiKey) {
  return {
    id: k.id,
    name: k.name,
    display: k.display,
    label: k.label,
    status: k.status,
    expires_at: k.expiresAt === null ? null : new Date(k.expiresAt).toISOString(),
    limit: k.spendLimit === null ? null : formatMoney(k.spendLimit),
    spent: formatMoney(k.spent),
    budget: k.budget === null ? null : formatMoney(k.budget),
    budget_period: k.budgetPeriod,
    models: k.models,
    ip_allowlist: k.ipAllowlist,
    rpm: k.limits.rpm,
    tpm: k.limits.tpm,
    concurrency: k.limits.concurrency,
    created_at: new Date(k.createdAt).toISOString(),
    last_used_at: k.lastUsedAt === null ? null : new Date(k.lastUsedAt).toISOString(),
    team_id: k.teamId,
  };
}
