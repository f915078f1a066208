import type { Selectable } from 'kysely';
import type { PaymentOrdersTable } from '../db/schema.ts';
import type { DbOrTx } from '../db/index.ts';
import { toNum, toNumOrNull } from '../db/index.ts';
import { toBig } from '../ledger/money.ts';
import { teamWalletId, walletAccountId } from '../ledger/accounts.ts';
import { newId } from '../lib/ids.ts';
import { TallyError } from '../lib/errors.ts';
import { stripSecrets } from './redact.ts';
import { canTransition, statesThatMayBecome, type OrderStatus } from './stateMachine.ts';

export type EventSource = 'user' | 'callback' | 'return_page' | 'reconcile' | 'support' | 'system';

export interface Order {
  id: string;
  userId: string;
  provider: string;
  method: string | null;
  status: OrderStatus;
  amount: bigint;
  currency: string;
  creditAmount: bigint;
  creditCurrency: string;
  exchangeRate: string;
  providerRef: string | null;
  providerTradeId: string | null;
  checkoutUrl: string | null;
  statusReason: string | null;
  refundedAmount: bigint;
  refundedCredit: bigint;
  creditTransferId: string | null;
  possibleDuplicateOf: string | null;
  /** Set when the order funds a team: its credit goes to the team wallet (orderWalletId). */
  teamId: string | null;
  expiresAt: number;
  paidAt: number | null;
  creditedAt: number | null;
  nextCheckAt: number | null;
  checkAttempts: number;
  createdAt: number;
  updatedAt: number;
}

/** The wallet an order credits (and a refund takes back from): the team's for a team top-up, else the payer's. */
export const orderWalletId = (o: { userId: string; teamId: string | null }): string => (o.teamId ? teamWalletId(o.teamId) : walletAccountId(o.userId));

export function rowToOrder(r: Selectable<PaymentOrdersTable>): Order {
  return {
    id: r.id,
    userId: r.user_id,
    provider: r.provider,
    method: r.method ?? null,
    status: r.status as OrderStatus, // a text column; only the state machine (canTransition) writes it
    amount: toBig(r.amount),
    currency: r.currency,
    creditAmount: toBig(r.credit_amount),
    creditCurrency: r.credit_currency,
    exchangeRate: r.exchange_rate,
    providerRef: r.provider_ref ?? null,
    providerTradeId: r.provider_trade_id ?? null,
    checkoutUrl: r.checkout_url ?? null,
    statusReason: r.status_reason ?? null,
    refundedAmount: toBig(r.refunded_amount),
    refundedCredit: toBig(r.refunded_credit),
    creditTransferId: r.credit_transfer_id ?? null,
    possibleDuplicateOf: r.possible_duplicate_of ?? null,
    teamId: r.team_id ?? null,
    expiresAt: toNum(r.expires_at),
    paidAt: toNumOrNull(r.paid_at),
    creditedAt: toNumOrNull(r.credited_at),
    nextCheckAt: toNumOrNull(r.next_check_at),
    checkAttempts: toNum(r.check_attempts),
    createdAt: toNum(r.created_at),
    updatedAt: toNum(r.updated_at),
  };
}

export async function findOrder(db: DbOrTx, id: string): Promise<Order | null> {
  if (typeof id !== 'string' || id.length > 64) return null;
  const r = await db.selectFrom('payment_orders').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? rowToOrder(r) : null;
}

export async function getOrder(db: DbOrTx, id: string, opts: { userId?: string } = {}): Promise<Order> {
  const o = await findOrder(db, id);
  // Another user's order is answered exactly like a missing one: ids are not an oracle.
  if (!o || (opts.userId !== undefined && o.userId !== opts.userId)) throw new TallyError('order_not_found', `order ${String(id).slice(0, 64)} does not exist`);
  return o;
}

export interface OrderEvent {
  id: string;
  kind: 'transition' | 'refused' | 'note';
  from: string | null;
  to: string | null;
  source: string;
  reason: string | null;
  payload: unknown;
  createdAt: number;
}

export async function recordOrderEvent(
  db: DbOrTx,
  input: {
    orderId: string;
    kind: OrderEvent['kind'];
    from?: string | null;
    to?: string | null;
    source: EventSource;
    reason?: string | null;
    payload?: unknown;
    now: number;
  },
): Promise<void> {
  await db
    .insertInto('payment_order_events')
    .values({
      id: newId('evt'),
      order_id: input.orderId,
      kind: input.kind,
      from_status: input.from ?? null,
      to_status: input.to ?? null,
      source: input.source,
      reason: input.reason ?? null,
      payload: input.payload === undefined ? null : JSON.stringify(stripSecrets(input.payload)),
      created_at: input.now,
    })
    .execute();
}

export async function listOrderEvents(db: DbOrTx, orderId: string): Promise<OrderEvent[]> {
  const rows = await db.selectFrom('payment_order_events').selectAll().where('order_id', '=', orderId).orderBy('id').execute();
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    from: r.from_status,
    to: r.to_status,
    source: r.source,
    reason: r.reason,
    payload: r.payload ? JSON.parse(r.payload) : null,
    createdAt: toNum(r.created_at),
  }));
}

/**
 * Moves an order to `to` if, and only if, its current state allows it: one
 * conditional UPDATE (never read-then-write), so of any number of concurrent
 * attempts exactly one succeeds. The winner records the transition; a refused
 * transition is recorded as such and changes nothing.
 */
export async function transitionOrder(
  db: DbOrTx,
  input: {
    orderId: string;
    to: OrderStatus;
    source: EventSource;
    reason?: string | null;
    payload?: unknown;
    set?: Record<string, unknown>;
    now: number;
    logRefusal?: boolean;
    only?: OrderStatus[];
  },
): Promise<{ ok: true; from: OrderStatus } | { ok: false; current: OrderStatus | null }> {
  const before = await db.selectFrom('payment_orders').select('status').where('id', '=', input.orderId).executeTakeFirst();
  if (!before) return { ok: false, current: null };
  const from = before.status as OrderStatus;
  if (canTransition(from, input.to) && (!input.only || input.only.includes(from))) {
    const r = await db
      .updateTable('payment_orders')
      .set({ ...(input.set ?? {}), status: input.to, status_reason: input.reason ?? null, updated_at: input.now })
      .where('id', '=', input.orderId)
      .where('status', '=', from)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 1) {
      await recordOrderEvent(db, {
        orderId: input.orderId,
        kind: 'transition',
        from,
        to: input.to,
        source: input.source,
        reason: input.reason,
        payload: input.payload,
        now: input.now,
      });
      return { ok: true, from };
    }
  }
  const now = await db.selectFrom('payment_orders').select('status').where('id', '=', input.orderId).executeTakeFirst();
  const current = (now?.status ?? null) as OrderStatus | null;
  if (input.logRefusal !== false && current !== input.to) {
    await recordOrderEvent(db, {
      orderId: input.orderId,
      kind: 'refused',
      from: current,
      to: input.to,
      source: input.source,
      reason: `${current} → ${input.to} is not allowed${input.reason ? ` (${input.reason})` : ''}`,
      payload: input.payload,
      now: input.now,
    });
  }
  return { ok: false, current };
}

export { statesThatMayBecome };

export interface OrderFilter {
  userId?: string;
  status?: OrderStatus;
  view?: 'stuck' | 'flagged' | 'duplicate' | 'possible_duplicate';
  stuckBefore?: number;
  limit?: number;
  before?: string;
}

export async function listOrders(db: DbOrTx, f: OrderFilter = {}): Promise<Order[]> {
  let q = db
    .selectFrom('payment_orders')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(Math.min(Math.max(f.limit ?? 50, 1), 500));
  if (f.userId) q = q.where('user_id', '=', f.userId);
  if (f.status) q = q.where('status', '=', f.status);
  if (f.before) q = q.where('id', '<', f.before);
  if (f.view === 'flagged') q = q.where('status', '=', 'flagged');
  if (f.view === 'possible_duplicate') q = q.where('possible_duplicate_of', 'is not', null);
  if (f.view === 'duplicate') q = q.where('id', 'in', db.selectFrom('payment_trades').select('order_id').where('outcome', '=', 'duplicate_payment'));
  if (f.view === 'stuck') q = q.where('status', 'in', ['created', 'pending', 'paid']).where('created_at', '<', f.stuckBefore ?? 0);
  return (await q.execute()).map(rowToOrder);
}
