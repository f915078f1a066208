import type { AppContext } from '../context.ts';
import { withTransaction, type Tx } from '../db/index.ts';
import { TallyError } from '../lib/errors.ts';
import { parseMoney } from '../ledger/money.ts';
import { balanceSubject } from './crossing.ts';
import { readAlertSettings, writeAlertSettings, type AlertSettings } from './settings.ts';
import { validateWebhookUrl } from './webhookUrl.ts';

/** A change to an owner's alert settings: a field left undefined stays as it is; null clears it. */
export interface AlertSettingsChange {
  balanceBelow?: string | null;
  email?: boolean;
  webhookUrl?: string | null;
  language?: 'en' | 'zh';
}

/**
 * Changes the alert settings of a wallet's owner (`user:<id>` or `team:<id>`),
 * from the API or the CLI. A changed threshold is a new question: whether the
 * balance is below it is judged afresh (already below: the alert goes out now),
 * and every instance re-reads the owner's settings.
 */
export async function changeAlertSettings(
  ctx: Pick<AppContext, 'db' | 'alerts' | 'config' | 'now'>,
  owner: string,
  change: AlertSettingsChange,
  /** Written in the same transaction as the settings (a team's change is audited: routes/alerts.ts). */
  audit?: (tx: Tx, before: AlertSettings, next: AlertSettings) => Promise<unknown>,
): Promise<AlertSettings> {
  const before = await readAlertSettings(ctx.db, owner);
  const next: AlertSettings = { ...before };
  if (change.balanceBelow !== undefined) {
    next.balanceBelow = change.balanceBelow === null ? null : parseMoney(change.balanceBelow, { field: 'balance_below', allowZero: false });
  }
  if (change.email !== undefined) next.email = change.email;
  if (change.language !== undefined) next.language = change.language;
  if (change.webhookUrl !== undefined) {
    if (change.webhookUrl === null || change.webhookUrl === '') next.webhookUrl = null;
    else {
      if (!ctx.alerts.channels.webhook) {
        throw new TallyError('invalid_webhook_url', 'this server sends no webhooks: its operator has not set TALLY_WEBHOOK_SECRET', { param: 'webhook_url' });
      }
      next.webhookUrl = validateWebhookUrl(change.webhookUrl, { allowPrivate: ctx.config.alerts.allowPrivate });
    }
  }
  await withTransaction(ctx.db, async (tx) => {
    await writeAlertSettings(tx, next, ctx.now());
    if (next.balanceBelow !== before.balanceBelow) await tx.deleteFrom('alert_state').where('subject', '=', balanceSubject(owner)).execute();
    if (audit) await audit(tx, before, next);
  });
  await ctx.alerts.settingsChanged(owner);
  return next;
}
