import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { parseInput } from '../../lib/validate.ts';
import { TallyError } from '../../lib/errors.ts';
import { formatMoney, parseMoney } from '../../ledger/money.ts';
import { walletAccountId } from '../../ledger/accounts.ts';
import { balanceSubject, readAlertSettings, validateWebhookUrl, writeAlertSettings, type AlertSettings } from '../../alerts/index.ts';

// A signed-in user's alert settings: GET and PUT /api/alerts. PUT changes the
// fields it names; a changed threshold is judged against the balance at once
// (already below it: the alert goes out now), on every instance's cache.

const PutBody = z.object({
  balance_below: z.union([z.string().max(40), z.null()]).optional(),
  email: z.boolean().optional(),
  webhook_url: z.union([z.string().max(2000), z.null()]).optional(),
  language: z.enum(['en', 'zh']).optional(),
});

function view(ctx: AppContext, s: AlertSettings) {
  return {
    balance_below: s.balanceBelow === null ? null : formatMoney(s.balanceBelow),
    email: s.email,
    webhook_url: s.webhookUrl,
    language: s.language,
    currency: ctx.config.currency,
    /** Whether this server can send each kind (TALLY_SMTP_URL, TALLY_WEBHOOK_SECRET). */
    email_available: ctx.alerts.channels.email,
    webhook_available: ctx.alerts.channels.webhook,
  };
}

export function alertRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/alerts', async (req) => {
    const user = await requireUser(ctx, req);
    return view(ctx, await readAlertSettings(ctx.db, walletAccountId(user.id)));
  });

  app.put('/api/alerts', async (req) => {
    const user = await requireUser(ctx, req);
    const body = parseInput(PutBody, req.body);
    const owner = walletAccountId(user.id);
    const before = await readAlertSettings(ctx.db, owner);
    const next: AlertSettings = { ...before };
    if (body.balance_below !== undefined) {
      next.balanceBelow = body.balance_below === null ? null : parseMoney(body.balance_below, { field: 'balance_below', allowZero: false });
    }
    if (body.email !== undefined) next.email = body.email;
    if (body.language !== undefined) next.language = body.language;
    if (body.webhook_url !== undefined) {
      if (body.webhook_url === null || body.webhook_url === '') next.webhookUrl = null;
      else {
        if (!ctx.alerts.channels.webhook) {
          throw new TallyError('invalid_webhook_url', 'this server sends no webhooks: its operator has not set TALLY_WEBHOOK_SECRET', { param: 'webhook_url' });
        }
        next.webhookUrl = validateWebhookUrl(body.webhook_url, { allowPrivate: ctx.config.alerts.allowPrivate });
      }
    }
    await writeAlertSettings(ctx.db, next, ctx.now());
    // A new threshold is a new question: whether the balance is below it is judged afresh.
    if (next.balanceBelow !== before.balanceBelow) await ctx.db.deleteFrom('alert_state').where('subject', '=', balanceSubject(owner)).execute();
    await ctx.alerts.settingsChanged(owner);
    return view(ctx, next);
  });
}
