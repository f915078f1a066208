// A local stand-in for api.stripe.com that answers exactly the calls Tally
// makes: create and retrieve a Checkout Session, create a refund. The tests
// drive the customer's side (pay, expire) and sign webhook events with the
// `stripe` package, as Stripe itself would.
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';

export interface FakeSession {
  id: string;
  object: 'checkout.session';
  amount_total: number;
  currency: string;
  client_reference_id: string | null;
  metadata: Record<string, string>;
  payment_status: 'paid' | 'unpaid' | 'no_payment_required';
  status: 'open' | 'complete' | 'expired';
  payment_intent: string | null;
  mode: 'payment';
  url: string;
  expires_at: number;
}

const rid = (p: string) => `${p}_test_${randomBytes(8).toString('hex')}`;

export class FakeStripe {
  readonly sessions = new Map<string, FakeSession>();
  readonly refunds: Array<{ id: string; payment_intent: string; amount: number; reason: string | null; idempotencyKey: string | null }> = [];
  readonly webhookSecret = 'whsec_test_tally';
  readonly secretKey = 'sk_test_tally_fake';
  private server!: Server;
  url = '';
  /** Make the next refund call fail, as Stripe does for a charge already refunded. */
  failRefunds = false;
  /**
   * Refund calls get no answer: 'before' drops them unprocessed, 'after'
   * processes them and then loses the answer (the connection is held until
   * releaseHeld()), as when the caller stops mid-call.
   */
  holdRefunds: false | 'before' | 'after' = false;
  /** Refund calls get their connection reset before anything is processed (the caller cannot know). */
  dropRefunds = false;
  private held: Array<import('node:http').ServerResponse> = [];
  /** The status new refunds get ('pending' as for some payment methods; setRefundStatus finishes them). */
  refundStatus: 'succeeded' | 'pending' = 'succeeded';
  /** Refund objects by id, as GET /v1/refunds/:id returns them. */
  readonly refundObjects = new Map<
    string,
    {
      id: string;
      object: 'refund';
      amount: number;
      payment_intent: string;
      reason: string | null;
      status: string;
      failure_reason?: string;
      metadata: Record<string, string>;
    }
  >();
  /** Stripe answers a repeated Idempotency-Key with the first answer. */
  private readonly idempotent = new Map<string, { status: number; body: unknown }>();
  private readonly signer = new Stripe('sk_test_signer');
  /** Checkout Session retrievals (GET /v1/checkout/sessions/:id): how often Tally asked about an order. */
  sessionQueries = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const send = (status: number, obj: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json', 'request-id': rid('req') });
          res.end(JSON.stringify(obj));
        };
        if (req.headers.authorization !== `Bearer ${this.secretKey}`)
          return send(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
        const form = new URLSearchParams(body);
        const path = (req.url ?? '').split('?')[0];
        if (req.method === 'POST' && path === '/v1/checkout/sessions') {
          const id = rid('cs');
          const s: FakeSession = {
            id,
            object: 'checkout.session',
            mode: 'payment',
            amount_total: Number(form.get('line_items[0][price_data][unit_amount]')) * Number(form.get('line_items[0][quantity]') ?? 1),
            currency: form.get('line_items[0][price_data][currency]') ?? 'usd',
            client_reference_id: form.get('client_reference_id'),
            metadata: { order_id: form.get('metadata[order_id]') ?? '' },
            payment_status: 'unpaid',
            status: 'open',
            payment_intent: null,
            url: `https://checkout.stripe.test/c/pay/${id}`,
            expires_at: Number(form.get('expires_at') ?? Math.floor(Date.now() / 1000) + 86400),
          };
          this.sessions.set(id, s);
          return send(200, s);
        }
        const m = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path);
        if (req.method === 'GET' && m) {
          this.sessionQueries++;
          const s = this.sessions.get(m[1]);
          return s
            ? send(200, s)
            : send(404, { error: { type: 'invalid_request_error', message: `No such checkout.session: '${m[1]}'`, code: 'resource_missing' } });
        }
        if (req.method === 'POST' && path === '/v1/refunds') {
          const key = (req.headers['idempotency-key'] as string) ?? null;
          const seen = key ? this.idempotent.get(key) : undefined;
          if (seen && !this.holdRefunds) return send(seen.status, seen.body);
          if (this.holdRefunds === 'before') return void this.held.push(res);
          if (this.dropRefunds) return void res.socket?.destroy();
          if (this.failRefunds)
            return send(400, { error: { type: 'invalid_request_error', message: 'Charge has already been refunded.', code: 'charge_already_refunded' } });
          const r = seen?.body ?? {
            id: rid('re'),
            object: 'refund' as const,
            amount: Number(form.get('amount')),
            payment_intent: form.get('payment_intent') ?? '',
            reason: form.get('reason'),
            status: this.refundStatus,
            metadata: {},
          };
          if (!seen) {
            const x = r as {
              id: string;
              object: 'refund';
              payment_intent: string;
              amount: number;
              reason: string | null;
              status: string;
              metadata: Record<string, string>;
            };
            this.refunds.push({ id: x.id, payment_intent: x.payment_intent, amount: x.amount, reason: x.reason, idempotencyKey: key });
            this.refundObjects.set(x.id, x);
            if (key) this.idempotent.set(key, { status: 200, body: r });
          }
          if (this.holdRefunds === 'after') return void this.held.push(res);
          return send(200, r);
        }
        const rm = /^\/v1\/refunds\/([^/]+)$/.exec(path);
        if (req.method === 'GET' && rm) {
          const r = this.refundObjects.get(rm[1]);
          return r ? send(200, r) : send(404, { error: { type: 'invalid_request_error', message: `No such refund: '${rm[1]}'`, code: 'resource_missing' } });
        }
        send(404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${path})` } });
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    return this;
  }

  /** A pending refund finishes at Stripe; returns the refund object (for a charge.refund.updated event). */
  setRefundStatus(id: string, status: 'succeeded' | 'failed' | 'canceled', failureReason?: string) {
    const r = this.refundObjects.get(id)!;
    r.status = status;
    if (failureReason) r.failure_reason = failureReason;
    return { ...r };
  }

  /** Refund calls waiting for an answer. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Drops the connections of held refund calls (the caller sees a reset). */
  releaseHeld(): void {
    for (const r of this.held.splice(0)) r.socket?.destroy();
  }

  /** The customer pays: the session completes with a payment intent. */
  pay(sessionId: string, opts: { async?: boolean } = {}): FakeSession {
    const s = this.sessions.get(sessionId)!;
    s.status = 'complete';
    s.payment_intent ??= rid('pi');
    s.payment_status = opts.async ? 'unpaid' : 'paid';
    return { ...s };
  }

  settleAsync(sessionId: string, ok: boolean): FakeSession {
    const s = this.sessions.get(sessionId)!;
    s.payment_status = ok ? 'paid' : 'unpaid';
    return { ...s };
  }

  expire(sessionId: string): FakeSession {
    const s = this.sessions.get(sessionId)!;
    s.status = 'expired';
    return { ...s };
  }

  /** A webhook event as Stripe sends it, with its signed header. */
  event(type: string, object: unknown, opts: { id?: string; secret?: string; timestamp?: number } = {}): { body: string; header: string; id: string } {
    const id = opts.id ?? rid('evt');
    const body = JSON.stringify({
      id,
      object: 'event',
      api_version: '2025-01-27.acacia',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
      data: { object },
    });
    const header = this.signer.webhooks.generateTestHeaderString({
      payload: body,
      secret: opts.secret ?? this.webhookSecret,
      ...(opts.timestamp ? { timestamp: opts.timestamp } : {}),
    });
    return { body, header, id };
  }

  charge(s: FakeSession, amountRefunded: number) {
    return {
      id: `ch_for_${s.payment_intent}`,
      object: 'charge',
      amount: s.amount_total,
      amount_refunded: amountRefunded,
      currency: s.currency,
      payment_intent: s.payment_intent,
      refunded: amountRefunded >= s.amount_total,
      metadata: {},
      status: 'succeeded',
    };
  }

  dispute(s: FakeSession, amount: number) {
    return {
      id: rid('dp'),
      object: 'dispute',
      amount,
      currency: s.currency,
      charge: `ch_for_${s.payment_intent}`,
      payment_intent: s.payment_intent,
      reason: 'fraudulent',
      status: 'needs_response',
      metadata: {},
    };
  }

  async close() {
    this.releaseHeld();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
