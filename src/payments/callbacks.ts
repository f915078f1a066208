import type { PaymentsContext } from './context.ts';
import { isUniqueViolation } from '../db/index.ts';
import type { CallbackInput, PaymentFact } from './providers/types.ts';
import { creditPaidOrder, failOrder, expireOrder, type CreditOutcome } from './credit.ts';
import { bookProviderRefund, bookDispute, applyProviderRefundStatus, closeDispute } from './refunds.ts';
import { findOrder, recordOrderEvent, type EventSource, type Order } from './orders.ts';
import { PaymentEventShapeError } from './errors.ts';

export type FactOutcome =
  | CreditOutcome
  | 'failed'
  | 'expired'
  | 'pending'
  | 'refund_booked'
  | 'dispute_booked'
  | 'refund_confirmed'
  | 'refund_failed'
  | 'dispute_won'
  | 'dispute_lost'
  | 'nothing_to_do'
  | 'ignored'
  | 'refused';

export interface CallbackResult {
  duplicateEvent: boolean;
  eventType: string;
  outcomes: FactOutcome[];
}

/**
 * Handles one provider callback after its signature was verified: drops a
 * repeated event id, then applies each fact through the exactly-once paths.
 * Throws PaymentSignatureError for a bad signature (the route answers 400 and
 * logs the source IP; nothing changes), and PaymentEventShapeError for an
 * authentic event Tally cannot read (recorded here, answered 400; nothing changes).
 */
export async function handleProviderCallback(
  ctx: PaymentsContext,
  providerName: string,
  input: CallbackInput,
  meta: { ip: string; source?: EventSource },
): Promise<CallbackResult> {
  const pay = ctx.payments;
  const provider = pay.provider(providerName);
  let verified;
  try {
    verified = await provider.verifyCallback(input);
  } catch (e) {
    if (e instanceof PaymentEventShapeError) await recordRefusedEvent(ctx, provider.name, e, meta);
    throw e;
  }
  if (verified.eventId) {
    // Stripe delivers events at least once; a repeated id was already applied (each fact is idempotent anyway).
    const id = `${provider.name}:${verified.eventId}`;
    const seen = await ctx.db.selectFrom('payment_provider_events').select('id').where('id', '=', id).executeTakeFirst();
    if (seen) return { duplicateEvent: true, eventType: verified.eventType, outcomes: [] };
  }
  const outcomes: FactOutcome[] = [];
  for (const fact of verified.facts) outcomes.push(await applyFact(ctx, provider.name, fact, verified.payload, meta));
  if (verified.eventId) {
    try {
      await ctx.db
        .insertInto('payment_provider_events')
        .values({
          id: `${provider.name}:${verified.eventId}`,
          provider: provider.name,
          type: verified.eventType,
          order_id: orderIdOfFacts(verified.facts),
          received_at: ctx.now(),
        })
        .execute();
    } catch (e) {
      if (!isUniqueViolation(e)) throw e; // a concurrent delivery recorded it first
    }
  }
  return { duplicateEvent: false, eventType: verified.eventType, outcomes };
}

/**
 * An authentic event of an unexpected shape: a warning naming the event id and
 * type and what was wrong (no values), and a note on the order's timeline when
 * the event names an order of this provider, so support sees why a payment
 * that Stripe reports did not arrive. A redelivery of the same event adds no
 * second note.
 */
async function recordRefusedEvent(ctx: PaymentsContext, provider: string, e: PaymentEventShapeError, meta: { ip: string }) {
  const { id, type, orderId, problem } = e.event;
  ctx.log.warn(
    { provider, eventId: id, eventType: type, orderId, problem, ip: meta.ip },
    'payment event with a valid signature but an unexpected shape refused (400); nothing changed',
  );
  if (!orderId) return;
  try {
    const o = await findOrder(ctx.db, orderId);
    if (!o || o.provider !== provider) return;
    const reason = `${provider} event ${id ?? '(no id)'} (${type ?? 'unknown type'}) was refused: valid signature but an unexpected shape (${problem}); nothing was applied`;
    const seen = await ctx.db
      .selectFrom('payment_order_events')
      .select('id')
      .where('order_id', '=', o.id)
      .where('kind', '=', 'note')
      .where('reason', '=', reason)
      .executeTakeFirst();
    if (!seen) await recordOrderEvent(ctx.db, { orderId: o.id, kind: 'note', source: 'callback', reason, now: ctx.now() });
  } catch (err) {
    ctx.log.error({ err, provider, eventId: id }, 'could not note a refused payment event on its order');
  }
}

const orderIdOfFacts = (facts: PaymentFact[]) => {
  for (const f of facts) if ('orderId' in f && f.orderId) return f.orderId;
  return null;
};

async function orderForTrade(ctx: PaymentsContext, provider: string, orderId: string | null, tradeId: string): Promise<Order | null> {
  if (orderId) {
    const o = await findOrder(ctx.db, orderId);
    if (o && o.provider === provider) return o;
  }
  const t = await ctx.db
    .selectFrom('payment_trades')
    .select('order_id')
    .where('provider', '=', provider)
    .where('trade_id', '=', tradeId)
    .where('outcome', '=', 'credited')
    .executeTakeFirst();
  return t ? findOrder(ctx.db, t.order_id) : null;
}

export async function applyFact(
  ctx: PaymentsContext,
  provider: string,
  fact: PaymentFact,
  payload: unknown,
  meta: { ip: string; source?: EventSource },
): Promise<FactOutcome> {
  const source = meta.source ?? 'callback';
  const now = ctx.now();
  const unknown = (id: string | null) => {
    ctx.log.warn(
      { provider, orderId: id ? String(id).slice(0, 64) : null, fact: fact.type, ip: meta.ip },
      'payment callback for an unknown order; nothing changed',
    );
    return 'unknown_order' as const;
  };
  switch (fact.type) {
    case 'payment_succeeded': {
      const r = await creditPaidOrder(ctx.db, {
        orderId: fact.orderId,
        provider,
        tradeId: fact.tradeId,
        amount: fact.amount,
        currency: fact.currency,
        source,
        payload,
        now,
        duplicateWindowMs: ctx.payments.settings.duplicateWindowMs,
      });
      if (r.outcome === 'unknown_order') return unknown(fact.orderId);
      if (r.outcome === 'credited') ctx.log.info({ orderId: fact.orderId, provider, source }, 'order credited');
      else if (r.outcome !== 'already_credited') ctx.log.warn({ orderId: fact.orderId, provider, outcome: r.outcome, ip: meta.ip }, 'payment needs attention');
      return r.outcome;
    }
    case 'payment_failed': {
      const o = await findOrder(ctx.db, fact.orderId);
      if (!o || o.provider !== provider) return unknown(fact.orderId);
      const r = await failOrder(ctx.db, { orderId: o.id, reason: fact.reason, source, payload, now });
      return r.ok ? 'failed' : 'refused';
    }
    case 'checkout_expired': {
      const o = await findOrder(ctx.db, fact.orderId);
      if (!o || o.provider !== provider) return unknown(fact.orderId);
      const r = await expireOrder(ctx.db, { orderId: o.id, reason: 'the provider closed the checkout unpaid', source, payload, now });
      return r.ok ? 'expired' : 'refused';
    }
    case 'payment_pending': {
      const o = await findOrder(ctx.db, fact.orderId);
      if (!o || o.provider !== provider) return unknown(fact.orderId);
      await recordOrderEvent(ctx.db, { orderId: o.id, kind: 'note', source, reason: fact.reason, payload, now });
      return 'pending';
    }
    case 'provider_refunded': {
      if (
        await duplicateTradeNote(
          ctx,
          provider,
          fact.tradeId,
          `the provider reports a refund (${fact.refundRef}) of duplicate payment ${fact.tradeId}`,
          payload,
          source,
        )
      )
        return 'nothing_to_do';
      const o = await orderForTrade(ctx, provider, fact.orderId, fact.tradeId);
      if (!o) return unknown(fact.orderId);
      const r = await bookProviderRefund(ctx.db, { order: o, refundedTotal: fact.refundedTotal, currency: fact.currency, refundRef: fact.refundRef, now });
      return r ? 'refund_booked' : 'nothing_to_do';
    }
    case 'dispute_opened': {
      if (
        await duplicateTradeNote(
          ctx,
          provider,
          fact.tradeId,
          `dispute ${fact.disputeId} opened on duplicate payment ${fact.tradeId} (${fact.reason})`,
          payload,
          source,
        )
      )
        return 'nothing_to_do';
      const o = await orderForTrade(ctx, provider, fact.orderId, fact.tradeId);
      if (!o) return unknown(fact.orderId);
      const r = await bookDispute(ctx.db, { order: o, amount: fact.amount, disputeId: fact.disputeId, reason: fact.reason, now });
      return r ? 'dispute_booked' : 'nothing_to_do';
    }
    case 'dispute_closed':
      return closeDispute(ctx.db, { disputeId: fact.disputeId, status: fact.status, now });
    case 'refund_status':
      return applyProviderRefundStatus(ctx, { providerRefundId: fact.providerRefundId, status: fact.status, reason: fact.reason, source });
    case 'ignored':
      return 'ignored';
  }
}

/**
 * A refund or dispute of a duplicate payment concerns money that was never
 * credited: it must not take back the order's credit. Recorded on the order's
 * timeline for support; returns true when the trade is such a duplicate.
 */
async function duplicateTradeNote(
  ctx: PaymentsContext,
  provider: string,
  tradeId: string,
  reason: string,
  payload: unknown,
  source: EventSource,
): Promise<boolean> {
  const t = await ctx.db
    .selectFrom('payment_trades')
    .select(['order_id', 'outcome', 'decision'])
    .where('provider', '=', provider)
    .where('trade_id', '=', tradeId)
    .executeTakeFirst();
  if (t?.outcome !== 'duplicate_payment') return false;
  await recordOrderEvent(ctx.db, {
    orderId: t.order_id,
    kind: 'note',
    source,
    reason: `${reason}; it was never credited, so the wallet is unchanged (decision: ${t.decision ?? 'pending'})`,
    payload,
    now: ctx.now(),
  });
  return true;
}
