// Order states (DESIGN.md "Payments"): created → pending → paid → credited,
// with side exits. A transition not listed here is refused and logged.
export type OrderStatus =
  | 'created'
  | 'pending'
  | 'paid'
  | 'credited'
  | 'failed'
  | 'expired'
  | 'canceled'
  | 'flagged'
  | 'refunded'
  | 'partially_refunded'
  | 'disputed';

export const ORDER_STATUSES: OrderStatus[] = [
  'created',
  'pending',
  'paid',
  'credited',
  'failed',
  'expired',
  'canceled',
  'flagged',
  'refunded',
  'partially_refunded',
  'disputed',
];

/**
 * States from which a confirmed payment is still accepted. `failed`, `expired`
 * and `canceled` are here on purpose: a provider that took the money after we
 * gave up on the order must still lead to a credit (the reason is recorded).
 */
export const PAYABLE: OrderStatus[] = ['created', 'pending', 'failed', 'expired', 'canceled'];

/** States in which the order's credit is (or was) on the user's wallet. */
export const CREDITED_STATES: OrderStatus[] = ['credited', 'partially_refunded', 'refunded', 'disputed'];

const ALLOWED: Record<OrderStatus, OrderStatus[]> = {
  created: ['pending', 'paid', 'failed', 'expired', 'canceled', 'flagged'],
  pending: ['paid', 'failed', 'expired', 'canceled', 'flagged'],
  failed: ['paid', 'flagged'],
  expired: ['paid', 'flagged'],
  canceled: ['paid', 'flagged'],
  paid: ['credited', 'flagged'],
  flagged: ['paid', 'failed'],
  credited: ['partially_refunded', 'refunded', 'disputed'],
  partially_refunded: ['partially_refunded', 'refunded', 'disputed'],
  disputed: ['partially_refunded', 'refunded', 'disputed', 'credited'], // credited again when the dispute is won
  refunded: [],
};

export const canTransition = (from: OrderStatus, to: OrderStatus): boolean => ALLOWED[from]?.includes(to) ?? false;

/** Every state that may move to `to`: the WHERE clause of a conditional transition. */
export const statesThatMayBecome = (to: OrderStatus): OrderStatus[] => ORDER_STATUSES.filter((s) => canTransition(s, to));
