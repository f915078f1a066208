import { TallyError } from '../lib/errors.ts';

export class PaymentSignatureError extends TallyError {
  constructor(message: string) {
    super('invalid_signature', message, { status: 400, retryable: false });
  }
}

export const providerUnavailable = (provider: string, message: string, cause?: unknown) =>
  new TallyError('payment_provider_error', `${provider}: ${message}`, { status: 502, retryable: true, cause });

/**
 * A refund request whose outcome is unknown: no answer, a dropped connection,
 * a provider-side 5xx. The provider may have refunded, so the booking must
 * stay; the refund is finished later with the same refund id.
 */
export const refundOutcomeUnknown = (provider: string, message: string, cause?: unknown) =>
  new TallyError('refund_outcome_unknown', `${provider}: ${message}`, { status: 502, retryable: false, cause });

export const isRefundOutcomeUnknown = (e: unknown): boolean => e instanceof TallyError && e.code === 'refund_outcome_unknown';
