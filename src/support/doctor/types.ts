import type { ServiceContext } from '../../service.ts';

export const CASE_CLASSES = [
  'payment_failed',
  'order_processing',
  'paid_not_credited',
  'duplicate_payment',
  'refund_or_compensation',
  'redeem_not_credited',
  'charged_for_failed_request',
  'unexpected_balance_drop',
  'insufficient_balance',
  'charged_for_failed_task',
  'task_running_reserved',
] as const;
export type CaseClass = (typeof CASE_CLASSES)[number];

export interface Bilingual {
  en: string;
  zh: string;
}

/** What the person told us; every field optional, each one narrows what the doctor looks at. */
export interface DiagnoseHints {
  problem?: CaseClass;
  method?: string;
  /** Approximate order time (epoch ms); records within a few hours match. */
  orderTime?: number;
  /** Amount in micro-units. */
  amount?: bigint;
  /** The last 4+ characters of an order id or a redeem code. */
  reference?: string;
  /** The last 4 characters of the API key being called. */
  key?: string;
  pageMessage?: string;
  submittedTwice?: boolean;
}

/** Who reads the result: the user about their own account, or staff (IP addresses masked). */
export type Audience = 'user' | 'staff';

export interface SafeFix {
  action: 'check_with_provider';
  order_id: string;
  label: Bilingual;
  /** Where to POST to run it (the user's own route, or the staff route). */
  path: string;
}

export interface SupportCase {
  class: CaseClass;
  /** open: something to act on; explained: the records already answer it (e.g. credited at T). */
  state: 'open' | 'explained';
  title: Bilingual;
  cause: Bilingual;
  next_step: Bilingual;
  evidence: string[];
  records: Record<string, unknown[]>;
  help: { slug: string; url: string };
  fix?: SafeFix;
  identity?: Record<string, string>;
}

export interface DoctorEnv {
  ctx: ServiceContext;
  userId: string;
  email: string;
  hints: DiagnoseHints;
  audience: Audience;
  now: number;
}
