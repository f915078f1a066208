import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.ts';
import { TallyError, isTallyError } from '../../lib/errors.ts';
import { formatMoney } from '../../ledger/money.ts';
import type { Order } from '../../payments/index.ts';
import {
  type SandboxProvider,
  SANDBOX_OUTCOMES,
  SANDBOX_SIGNATURE_HEADER,
  sandboxOrderOfOwner,
  type SandboxOutcome,
} from '../../payments/providers/sandbox.ts';
import type { User } from '../../accounts/users.ts';
import { requireUser } from '../auth.ts';

// The sandbox provider's pay page: a demo (and test) stand-in for a real
// checkout that can succeed, fail, pay after expiry, call back twice, or
// never call back (then only reconcile finds the payment), or take a second
// payment for the same order (a duplicate payment).
//
// Pressing a button credits a balance without money, so the page and its
// buttons need the order owner's session (another user's order is a 404, as a
// missing one), and the whole provider is off unless TALLY_PAYMENT_SANDBOX=on.

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function sandboxPayRoutes(app: FastifyInstance, ctx: AppContext) {
  const sandbox = (): SandboxProvider => {
    const p = ctx.payments.providers.get('sandbox');
    if (!p)
      throw new TallyError(
        'route_not_found',
        'no sandbox payment page: the sandbox payment provider is not enabled on this server (an operator enables it with TALLY_PAYMENT_SANDBOX=on)',
      );
    return p as SandboxProvider;
  };
  /** The signed-in owner of a sandbox order; a browser without a session gets a page asking to sign in. */
  const owner = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<User | null> => {
    try {
      return await requireUser(ctx, req);
    } catch (e) {
      if (!(isTallyError(e) && e.status === 401) || !wantsHtml(req.headers.accept)) throw e;
      reply.code(401).type('text/html; charset=utf-8');
      const back = `/console/orders/${encodeURIComponent(req.params.id)}`;
      reply.send(
        `<!doctype html><meta charset="utf-8"><title>Sandbox payment</title><h1>Sandbox payment 沙盒支付</h1><p>Sign in first: only the order's owner can pay it. 请先登录：只有订单的所有者可以支付。</p><p><a href="${esc(back)}">Sign in and open the order 登录并打开订单</a></p>`,
      );
      return null;
    }
  };

  // Public: whether this server takes sandbox payments, for the console's warning banner (shown before sign-in too).
  app.get('/api/payments/sandbox/status', async () => ({ enabled: ctx.payments.providers.has('sandbox') }));

  app.get<{ Params: { id: string } }>('/api/payments/sandbox/pay/:id', async (req, reply) => {
    sandbox();
    const user = await owner(req, reply);
    if (!user) return reply;
    const o = await sandboxOrderOfOwner(ctx.db, req.params.id, user.id);
    // One bodiless form per outcome: the choice travels in the query string, so no form parser is needed.
    const buttons = SANDBOX_OUTCOMES.map((k) => `<form method="post" action="?outcome=${k}" style="display:inline"><button>${k}</button></form>`).join(' ');
    reply.type('text/html; charset=utf-8');
    return `<!doctype html><meta charset="utf-8"><title>Sandbox payment</title><h1>Sandbox payment 沙盒支付</h1><p><strong>Test mode: no real money moves, and the balance it credits is free. 测试模式：不会产生真实扣款，入账的余额是免费的。</strong></p><p>Order ${esc(o.id)}: pay ${esc(formatMoney(o.amount))} ${esc(o.currency)} (status ${esc(o.status)})</p><div>${buttons}</div>`;
  });

  // The pay page's buttons are plain HTML forms: a browser posts them as
  // application/x-www-form-urlencoded, parsed here (in this scope only).
  app.register(async (scoped) => {
    scoped.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
      done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    );
    scoped.post<{ Params: { id: string } }>('/api/payments/sandbox/pay/:id', async (req, reply) => {
      const provider = sandbox();
      const user = await owner(req, reply);
      if (!user) return reply;
      const o = await sandboxOrderOfOwner(ctx.db, req.params.id, user.id);
      const outcome = ((req.body as { outcome?: string } | undefined)?.outcome ?? (req.query as { outcome?: string }).outcome) as SandboxOutcome;
      if (!SANDBOX_OUTCOMES.includes(outcome))
        throw new TallyError('invalid_outcome', `outcome must be one of ${SANDBOX_OUTCOMES.join(', ')}`, { param: 'outcome' });
      const notifyUrl = `http://127.0.0.1:${req.socket.localPort}/api/payments/sandbox/notify`;
      const deliver = async (n: { body: string; signature: string }) => {
        try {
          const res = await fetch(notifyUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', [SANDBOX_SIGNATURE_HEADER]: n.signature },
            body: n.body,
          });
          return res.status;
        } catch (e) {
          ctx.log.warn({ err: e, orderId: o.id }, 'sandbox callback delivery failed');
          return 0;
        }
      };
      if (outcome === 'late') {
        const wait = Math.max(0, o.expiresAt - ctx.now() + 20);
        setTimeout(() => {
          provider
            .recordTrade(o, 'paid')
            .then(deliver)
            .catch((e) => ctx.log.error({ err: e }, 'sandbox late payment failed'));
        }, wait).unref();
        reply.code(202);
        if (wantsHtml(req.headers.accept)) return donePage(reply, o, outcome);
        return { outcome, order_id: o.id, pays_at: new Date(ctx.now() + wait).toISOString() };
      }
      const n = await provider.recordTrade(o, outcome === 'fail' ? 'failed' : 'paid');
      let callbacks: number[] = [];
      if (outcome === 'twice') callbacks = await Promise.all([deliver(n), deliver(n)]);
      else if (outcome !== 'never') callbacks = [await deliver(n)];
      if (wantsHtml(req.headers.accept)) return donePage(reply, o, outcome);
      return { outcome, order_id: o.id, trade_id: n.tradeId, callbacks };
    });
  });
}

// A browser that pressed a button gets a page back with a link to the order in the console, not JSON.
const wantsHtml = (accept: string | undefined) => Boolean(accept?.includes('text/html'));
function donePage(reply: FastifyReply, o: Order, outcome: string) {
  reply.type('text/html; charset=utf-8');
  return `<!doctype html><meta charset="utf-8"><title>Sandbox payment</title><h1>Sandbox payment 沙盒支付</h1><p>Order ${esc(o.id)}: outcome <strong>${esc(outcome)}</strong>.</p><p><a href="/console/orders/${encodeURIComponent(o.id)}">Back to the order 返回订单</a></p>`;
}
