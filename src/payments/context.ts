import type { ServiceContext } from '../service.ts';
import type { Payments } from './providers/index.ts';

/** A payments verb's context: the service context and the providers built at start. */
export interface PaymentsContext extends ServiceContext {
  payments: Payments;
}
