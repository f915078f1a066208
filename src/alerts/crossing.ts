import type { DbOrTx, Tx } from '../db/index.ts';
import { withTransaction } from '../db/index.ts';
import { newId } from '../lib/ids.ts';
import { formatMoney } from '../ledger/money.ts';
import { ownerEmail, readAlertSettings, type AlertSettings } from './settings.ts';
import type { AlertEvent, AlertKind } from './templates.ts';

// Once per crossing: each alert has a subject in alert_state (`balance:user:<id>`,
// `budget:key:<id>:2026-12:80`) and fires only in the transaction whose
// conditional write moved the subject into the alerting state. Two instances
// (or two batches) that see the same crossing race on that one row: the row
// lock lets one write, the other's WHERE no longer matches, so exactly one
// enqueues the e-mail and webhook, in the same transaction as the state change.

export interface Channels {
  /** E-mail is configured (TALLY_SMTP_URL). */
  email: boolean;
  /** Webhooks can be signed (TALLY_WEBHOOK_SECRET). */
  webhook: boolean;
}

/** Moves `subject` to `state` unless it is already there; true when this call moved it. */
async function moveState(tx: Tx, subject: string, state: string, now: number): Promise<boolean> {
  const r = await tx
    .insertInto('alert_state')
    .values({ subject, state, updated_at: now })
    .onConflict((oc) => oc.column('subject').doUpdateSet({ state, updated_at: now }).where('alert_state.state', '<>', state))
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

/** Writes the deliveries of one alert: an e-mail and a webhook, as the owner's settings and the server allow. */
async function enqueue(tx: Tx, e: AlertEvent, s: AlertSettings, channels: Channels, now: number): Promise<number> {
  const rows: Array<{ channel: 'email' | 'webhook'; target: string }> = [];
  if (channels.email && s.email) {
    const to = await ownerEmail(tx, e.owner);
    if (to) rows.push({ channel: 'email', target: to });
  }
  if (channels.webhook && s.webhookUrl) rows.push({ channel: 'webhook', target: s.webhookUrl });
  if (!rows.length) return 0;
  const payload = JSON.stringify({ event: e, language: s.language });
  await tx
    .insertInto('alert_outbox')
    .values(
      rows.map((r) => ({
        id: newId('alt'),
        owner_ref: e.owner,
        channel: r.channel,
        target: r.target,
        kind: e.kind,
        payload,
        status: 'pending' as const,
        attempts: 0,
        next_attempt_at: now,
        created_at: now,
      })),
    )
    .execute();
  return rows.length;
}

export const balanceSubject = (owner: string) => `balance:${owner}`;

/**
 * The wallet `owner` can spend `spendable`: below the threshold moves the
 * subject to 'below' (and alerts, once), at or above it back to 'above' (a
 * top-up re-arms the alert). Returns how many deliveries were enqueued.
 */
export async function noteBalance(
  db: DbOrTx,
  input: { settings: AlertSettings; spendable: bigint; currency: string; channels: Channels; now: number },
): Promise<{ state: 'below' | 'above'; enqueued: number }> {
  const { settings: s, spendable, now } = input;
  const threshold = s.balanceBelow;
  const subject = balanceSubject(s.owner);
  if (threshold === null || spendable >= threshold) {
    await db.updateTable('alert_state').set({ state: 'above', updated_at: now }).where('subject', '=', subject).where('state', '=', 'below').execute();
    return { state: 'above', enqueued: 0 };
  }
  return withTransaction(db, async (tx) => {
    if (!(await moveState(tx, subject, 'below', now))) return { state: 'below' as const, enqueued: 0 };
    const event: AlertEvent = {
      id: newId('alt'),
      kind: 'balance.below',
      owner: s.owner,
      currency: input.currency,
      createdAt: now,
      threshold: formatMoney(threshold),
      spendable: formatMoney(spendable),
    };
    return { state: 'below' as const, enqueued: await enqueue(tx, event, s, input.channels, now) };
  });
}

/** Who hears about a budget: the key's owner, or the member (and the team's own settings, when it has any). */
async function budgetOwners(db: DbOrTx, ref: string): Promise<{ owners: string[]; name: string | null }> {
  if (ref.startsWith('key:')) {
    const k = await db.selectFrom('api_keys').select(['user_id', 'name']).where('id', '=', ref.slice(4)).executeTakeFirst();
    return { owners: k ? [`user:${k.user_id}`] : [], name: k ? `key "${k.name}"` : null };
  }
  const m = /^member:([^:]+):(.+)$/.exec(ref);
  if (!m) return { owners: [], name: null };
  const team = await db.selectFrom('alert_settings').select('owner_ref').where('owner_ref', '=', `team:${m[1]}`).executeTakeFirst();
  return { owners: [`user:${m[2]}`, ...(team ? [team.owner_ref] : [])], name: null };
}

/** A budget's spend reached `level` (80 or 100) percent of `amount` in `periodKey`: alerts once per budget, period, level and amount. */
export async function noteBudgetLevel(
  db: DbOrTx,
  input: { ref: string; periodKey: string; level: 80 | 100; spent: bigint; amount: bigint; currency: string; channels: Channels; now: number; notify: boolean },
): Promise<number> {
  const { ref, periodKey, level, now } = input;
  // The amount is part of the state: a budget raised after its alert can alert again at its new 80%.
  const subject = `budget:${ref}:${periodKey}:${level}`;
  return withTransaction(db, async (tx) => {
    if (!(await moveState(tx, subject, `crossed:${input.amount}`, now))) return 0;
    if (!input.notify) return 0; // a lower level passed in the same step as a higher one: recorded, not sent
    const { owners, name } = await budgetOwners(tx, ref);
    let n = 0;
    const kind: AlertKind = level === 100 ? 'budget.100' : 'budget.80';
    for (const owner of owners) {
      const event: AlertEvent = {
        id: newId('alt'),
        kind,
        owner,
        currency: input.currency,
        createdAt: now,
        budget: ref,
        ...(name ? { budgetName: name } : {}),
        period: periodKey,
        spent: formatMoney(input.spent),
        amount: formatMoney(input.amount),
      };
      n += await enqueue(tx, event, await readAlertSettings(tx, owner), input.channels, now);
    }
    return n;
  });
}
