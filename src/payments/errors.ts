import { TallyError } from '../lib/errors.ts';

export class PaymentSignatureError extends TallyError {
  constructor(message: string) {
    super('invalid_signature', message, { status: 400, retryable: false });
  }
}

export const providerUnavailable = (provider: string, message: string, cause?: unknown) =>
  new TallyError('payment_provider_error', `${provider}: ${message}`, { status: 502, retryable: true, cause });
