// Shared by the keys, team, alert and staff pages (issue 16): what the limits
// and budgets APIs return, and the form fields that set them. A limit left
// empty is "none of its own" (null); a budget is an amount and a period, or neither.
import { useI18n, type T } from '../i18n.tsx';
import { Field } from '../components.tsx';
import { useApi } from '../useApi.ts';
import { tidy } from '../money.ts';
import type { KeyRow } from '../api.ts';

export type BudgetPeriod = 'day' | 'week' | 'month' | 'total';
export const PERIODS: BudgetPeriod[] = ['day', 'week', 'month', 'total'];
export type TeamRole = 'owner' | 'admin' | 'member';
export const ROLES: TeamRole[] = ['owner', 'admin', 'member'];

export interface Limits {
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
}
export interface BudgetStatus {
  period_key: string;
  spent: string;
  remaining: string;
  resets_at: string | null;
}
export interface KeyView extends KeyRow, Limits {
  budget: string | null;
  budget_period: BudgetPeriod | null;
  team_id: string | null;
  budget_status?: BudgetStatus | null;
  user_id?: string;
}
export interface Wallet {
  id: string;
  balance: string;
  available: string;
  currency: string;
}
export interface TeamSummary {
  id: string;
  name: string;
  owner_user_id: string;
  wallet_id: string;
  created_at: string;
  role?: TeamRole;
  wallet: Wallet;
}
export interface TeamMember {
  id: string;
  email: string;
  user_id: string | null;
  role: TeamRole;
  status: 'active' | 'invited' | 'removed';
  budget: string | null;
  budget_period: BudgetPeriod | null;
  spent_this_period?: string;
  created_at: string;
}
export interface TeamDetail extends TeamSummary {
  members: TeamMember[];
  keys: KeyView[];
}

/** Limits as typed into the form: digits, or empty for none. */
export type LimitText = Record<keyof Limits, string>;
export const emptyLimits = (): LimitText => ({ rpm: '', tpm: '', concurrency: '' });
export const limitText = (l: Partial<Limits>): LimitText => ({
  rpm: l.rpm == null ? '' : String(l.rpm),
  tpm: l.tpm == null ? '' : String(l.tpm),
  concurrency: l.concurrency == null ? '' : String(l.concurrency),
});
/** The body fields: a whole number, or null (clears the limit). The inputs' pattern keeps anything else from being submitted. */
export const limitsBody = (v: LimitText): Limits => ({
  rpm: v.rpm.trim() ? Number(v.rpm.trim()) : null,
  tpm: v.tpm.trim() ? Number(v.tpm.trim()) : null,
  concurrency: v.concurrency.trim() ? Number(v.concurrency.trim()) : null,
});

export interface BudgetText {
  budget: string;
  period: BudgetPeriod;
}
export const budgetText = (amount: string | null, period: BudgetPeriod | null): BudgetText => ({
  budget: amount ? tidy(amount) : '',
  period: period ?? 'month',
});
/** Both fields or both null (no budget), as PATCH /api/keys/:id and the team member routes take them. */
export const budgetBody = (v: BudgetText) => (v.budget.trim() ? { budget: v.budget.trim(), budget_period: v.period } : { budget: null, budget_period: null });

const WHOLE = '[1-9][0-9]{0,12}';

/** Requests per minute, tokens per minute, requests at once. */
export function LimitInputs({ value, onChange, disabled }: { value: LimitText; onChange(v: LimitText): void; disabled?: boolean }) {
  const { t } = useI18n();
  const set = (k: keyof Limits) => (e: { target: { value: string } }) => onChange({ ...value, [k]: e.target.value });
  return (
    <>
      {(['rpm', 'tpm', 'concurrency'] as const).map((k) => (
        <Field key={k} label={t(`limits.field.${k}`)} hint={t('limits.field.emptyNone')}>
          {(id, hint) => (
            <input id={id} name={k} inputMode="numeric" pattern={WHOLE} aria-describedby={hint} disabled={disabled} value={value[k]} onChange={set(k)} />
          )}
        </Field>
      ))}
    </>
  );
}

/** A budget amount and its period. */
export function BudgetInputs({ value, onChange, currency }: { value: BudgetText; onChange(v: BudgetText): void; currency: string }) {
  const { t } = useI18n();
  return (
    <>
      <Field label={t('limits.field.budget')} hint={t('limits.field.budgetHint')}>
        {(id, hint) => (
          <input
            id={id}
            name="budget"
            inputMode="decimal"
            pattern="\d+(\.\d{1,6})?"
            placeholder={`1.00 ${currency}`}
            aria-describedby={hint}
            value={value.budget}
            onChange={(e) => onChange({ ...value, budget: e.target.value })}
          />
        )}
      </Field>
      <Field label={t('limits.field.period')}>
        {(id) => (
          <select id={id} name="budget_period" value={value.period} onChange={(e) => onChange({ ...value, period: e.target.value as BudgetPeriod })}>
            {PERIODS.map((p) => (
              <option key={p} value={p}>
                {t(`limits.periodName.${p}`)}
              </option>
            ))}
          </select>
        )}
      </Field>
    </>
  );
}

/** "2 req/min · 10000 tok/min · 3 at once", or "no limits of its own". */
export function describeLimits(t: T, l: Partial<Limits>): string {
  const parts: string[] = [];
  if (l.rpm != null) parts.push(t('limits.show.rpm', { n: l.rpm }));
  if (l.tpm != null) parts.push(t('limits.show.tpm', { n: l.tpm }));
  if (l.concurrency != null) parts.push(t('limits.show.concurrency', { n: l.concurrency }));
  return parts.length ? parts.join(' · ') : t('limits.show.none');
}

/** "1.00 per day" / "1.00 in total". */
export const describeBudget = (t: T, amount: string, period: BudgetPeriod | null) => t(`limits.period.${period ?? 'month'}`, { amount: tidy(amount) });

export const roleName = (t: T, r: string) => ((ROLES as string[]).includes(r) ? t(`limits.role.${r as TeamRole}`) : r);

/** A key's budget: what it spent this period of how much, and when that resets. */
export function KeyBudget({ k }: { k: KeyView }) {
  const { t, fmtTime } = useI18n();
  if (!k.budget) return <span className="muted">{t('limits.show.noBudget')}</span>;
  const s = k.budget_status;
  return (
    <span data-testid="key-budget">
      {s ? `${tidy(s.spent)} / ` : ''}
      {describeBudget(t, k.budget, k.budget_period)}
      {s && (
        <>
          <br />
          <small className="muted">{s.resets_at ? t('limits.show.resets', { at: fmtTime(s.resets_at) }) : t('limits.show.neverResets')}</small>
        </>
      )}
    </span>
  );
}

/**
 * Whose wallet a top-up or a redemption funds: the user's own, or a team's they
 * own or administer (the API refuses plain members). Nothing is drawn for a
 * user who manages no team.
 */
export function WalletSelect({ value, onChange }: { value: string; onChange(team: string): void }) {
  const { t } = useI18n();
  const teams = useApi<{ data: TeamSummary[] }>('/api/teams');
  const managed = (teams.data?.data ?? []).filter((x) => x.role === 'owner' || x.role === 'admin');
  if (!managed.length) return null;
  return (
    <Field label={t('limits.wallet.label')}>
      {(id) => (
        <select id={id} name="team" value={value} onChange={(e) => onChange(e.target.value)}>
          <option value="">{t('limits.wallet.mine')}</option>
          {managed.map((x) => (
            <option key={x.id} value={x.id}>
              {t('limits.wallet.team', { name: x.name })}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** The `team` query parameter of a page's address ("/topup?team=team_…"). */
export const teamParam = (search: string) => new URLSearchParams(search).get('team') ?? '';
