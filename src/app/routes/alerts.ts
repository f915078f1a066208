import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { requireUser } from '../auth.ts';
import { parseInput } from '../../lib/validate.ts';
import { formatMoney } from '../../ledger/money.ts';
import { teamWalletId, walletAccountId } from '../../ledger/accounts.ts';
import { requireTeamRole } from '../../teams/index.ts';
import { recordAudit } from '../../audit/index.ts';
import { changeAlertSettings, readAlertSettings, type AlertSettings } from '../../alerts/index.ts';

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

/** What the audit log keeps of a team's settings: the webhook's host only (a URL may carry a token in its path or query). */
const auditState = (s: AlertSettings) => ({
  balance_below: s.balanceBelow === null ? null : formatMoney(s.balanceBelow),
  email: s.email,
  webhook_host: s.webhookUrl ? new URL(s.webhookUrl).host : null,
  language: s.language,
});

export function alertRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/api/alerts', async (req) => {
    const user = await requireUser(ctx, req);
    return view(ctx, await readAlertSettings(ctx.db, walletAccountId(user.id)));
  });

  app.put('/api/alerts', async (req) => {
    const user = await requireUser(ctx, req);
    const body = parseInput(PutBody, req.body);
    const next = await changeAlertSettings(ctx, walletAccountId(user.id), {
      balanceBelow: body.balance_below,
      email: body.email,
      webhookUrl: body.webhook_url,
      language: body.language,
    });
    return view(ctx, next);
  });

  // A team's own settings: its wallet's balance alert (e-mail to the team's owner) and
  // a webhook that also hears its members' budget alerts. Its owners and admins only.
  app.get<{ Params: { id: string } }>('/api/teams/:id/alerts', async (req) => {
    const user = await requireUser(ctx, req);
    const { team } = await requireTeamRole(ctx.db, req.params.id, user.id, ['owner', 'admin']);
    return view(ctx, await readAlertSettings(ctx.db, teamWalletId(team.id)));
  });

  app.put<{ Params: { id: string } }>('/api/teams/:id/alerts', async (req) => {
    const user = await requireUser(ctx, req);
    const { team } = await requireTeamRole(ctx.db, req.params.id, user.id, ['owner', 'admin']);
    const body = parseInput(PutBody, req.body);
    const owner = teamWalletId(team.id);
    // Every team change is audited (the user's own settings are not a team change), in the settings' transaction.
    const next = await changeAlertSettings(
      ctx,
      owner,
      { balanceBelow: body.balance_below, email: body.email, webhookUrl: body.webhook_url, language: body.language },
      (tx, before, after) =>
        recordAudit(tx, {
          actor: { type: 'user', userId: user.id, role: user.role },
          action: 'team.alerts',
          target: `team:${team.id}`,
          before: auditState(before),
          after: auditState(after),
          now: ctx.now(),
        }),
    );
    return view(ctx, next);
  });
}
