import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.ts';
import { handleProviderCallback, type CallbackResult } from '../../payments/index.ts';
import type { CallbackInput } from '../../payments/providers/types.ts';
import { PaymentEventShapeError, PaymentSignatureError } from '../../payments/errors.ts';

// Provider callbacks. Stripe and the sandbox are verified over the raw bytes
// of the body, so these routes live in a plugin whose only content parser
// keeps the body as a Buffer (the rest of the app keeps its JSON parser).
// EPay notifies arrive as GET query strings or POST forms.

const flat = (o: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) if (typeof v === 'string') out[k] = v;
  return out;
};

function badSignature(ctx: AppContext, req: FastifyRequest, provider: string, e: PaymentSignatureError) {
  ctx.log.warn({ provider, ip: req.ip, reason: e.message, path: req.url.split('?')[0] }, 'payment callback with a bad signature refused; nothing changed');
}

/** Counts a callback in the metrics by provider and outcome (bounded sets: FactOutcome, or how it was refused). */
function countCallback(ctx: AppContext, provider: string, r: CallbackResult | null, refused?: 'bad_signature' | 'unreadable' | 'error'): void {
  const m = ctx.metrics;
  if (!m) return;
  if (refused || !r) m.paymentCallback(provider, refused ?? 'error');
  else if (r.duplicateEvent) m.paymentCallback(provider, 'duplicate_event');
  else if (!r.outcomes.length) m.paymentCallback(provider, 'no_effect');
  else for (const o of r.outcomes) m.paymentCallback(provider, o);
}

export function paymentCallbackRoutes(app: FastifyInstance, ctx: AppContext) {
  app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    const json = (provider: 'stripe' | 'sandbox') => async (req: FastifyRequest, reply: FastifyReply) => {
      const input: CallbackInput = { rawBody: (req.body as Buffer | undefined) ?? null, headers: req.headers, params: {} };
      let r: CallbackResult;
      try {
        r = await handleProviderCallback(ctx, provider, input, { ip: req.ip });
      } catch (e) {
        countCallback(ctx, provider, null, e instanceof PaymentSignatureError ? 'bad_signature' : e instanceof PaymentEventShapeError ? 'unreadable' : 'error');
        if (e instanceof PaymentSignatureError) {
          badSignature(ctx, req, provider, e);
          return reply.code(400).send({ error: { code: e.code, message: e.message, request_id: req.id } });
        }
        // Authentic but unreadable: recorded by handleProviderCallback; a 5xx would only have the provider retry it for days.
        if (e instanceof PaymentEventShapeError) return reply.code(400).send({ error: { code: e.code, message: e.message, request_id: req.id } });
        throw e; // 5xx: the provider retries
      }
      countCallback(ctx, provider, r);
      return { received: true, duplicate: r.duplicateEvent, type: r.eventType, outcomes: r.outcomes };
    };
    raw.post('/api/payments/stripe/webhook', json('stripe'));
    raw.post('/api/payments/sandbox/notify', json('sandbox'));

    // `success` only once the effect is committed; `fail` makes EPay retry.
    const epay = async (req: FastifyRequest, reply: FastifyReply) => {
      const body = Buffer.isBuffer(req.body) ? Object.fromEntries(new URLSearchParams(req.body.toString('utf8'))) : {};
      const params = { ...flat(req.query), ...body };
      reply.type('text/plain; charset=utf-8');
      try {
        const r = await handleProviderCallback(ctx, 'epay', { rawBody: null, headers: req.headers, params }, { ip: req.ip });
        countCallback(ctx, 'epay', r);
        return r.outcomes.includes('unknown_order' as never) ? 'fail' : 'success';
      } catch (e) {
        countCallback(ctx, 'epay', null, e instanceof PaymentSignatureError ? 'bad_signature' : 'error');
        if (e instanceof PaymentSignatureError) {
          badSignature(ctx, req, 'epay', e);
          return reply.code(400).send('fail');
        }
        ctx.log.error({ err: e, ip: req.ip }, 'EPay notify failed; answered fail so EPay retries');
        return reply.code(500).send('fail');
      }
    };
    raw.get('/api/payments/epay/notify', epay);
    raw.post('/api/payments/epay/notify', epay);
  });
}
