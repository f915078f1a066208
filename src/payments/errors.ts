import { TallyError } from '../lib/errors.ts';

export class PaymentSignatureError extends TallyError {
  constructor(message: string) {
    super('invalid_signature', message);
  }
}

export const providerUnavailable = (provider: string, message: string, cause?: unknown) =>
  new TallyError('payment_provider_error', `${provider}: ${message}`, { cause });

/**
 * A refund request whose outcome is unknown: no answer, a dropped connection,
 * a provider-side 5xx. The provider may have refunded, so the booking must
 * stay; the refund is finished later with the same refund id.
 */
export const refundOutcomeUnknown = (provider: string, message: string, cause?: unknown) =>
  new TallyError('refund_outcome_unknown', `${provider}: ${message}`, { cause });

export const isRefundOutcomeUnknown = (e: unknown): boolean => e instanceof TallyError && e.code === 'refund_outcome_unknown';

/**
 * A callback whose signature is valid but whose content is not what the
 * provider documents (a field missing or of another type). Answered 400 and
 * recorded (a log line, and a note on the order's timeline when the event names
 * one); nothing changes. Carries ids and field paths only, never values.
 */
export class PaymentEventShapeError extends TallyError {
  constructor(readonly event: { id: string | null; type: string | null; orderId: string | null; problem: string }) {
    super(
      'invalid_event',
      `the ${event.type ?? 'event'}${event.id ? ` ${event.id}` : ''} has a valid signature but an unexpected shape (${event.problem}); it was not applied`,
    );
  }
}
