import type { CaseClass } from './types.ts';

const PAGE_OF: Record<CaseClass, string> = {
  payment_failed: 'payment-order-refund-redeem',
  order_processing: 'payment-order-refund-redeem',
  paid_not_credited: 'payment-order-refund-redeem',
  duplicate_payment: 'payment-order-refund-redeem',
  refund_or_compensation: 'payment-order-refund-redeem',
  redeem_not_credited: 'payment-order-refund-redeem',
  charged_for_failed_request: 'charged-for-failed-request',
  unexpected_balance_drop: 'charged-for-failed-request',
  insufficient_balance: 'insufficient-balance-402',
  charged_for_failed_task: 'video-task-billing',
  task_running_reserved: 'video-task-billing',
};

export const helpFor = (c: CaseClass) => ({ slug: PAGE_OF[c], url: `/help/${PAGE_OF[c]}` });
