import { z } from 'zod';
import { parseInput } from '../../lib/validate.ts';
import { parsePositiveMoney } from '../../ledger/money.ts';
import { TallyError } from '../../lib/errors.ts';
import { CASE_CLASSES, type CaseClass, type DiagnoseHints } from './types.ts';

const HintSchema = z.object({
  problem: z.enum(CASE_CLASSES).optional(),
  method: z.string().max(40).optional(),
  order_time: z.string().max(40).optional(),
  amount: z.string().max(40).optional(),
  reference: z.string().max(64).optional(),
  key: z.string().max(64).optional(),
  page_message: z.string().max(500).optional(),
  submitted_twice: z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])]).optional(),
});

// What a page said is often the best hint of all; these map it onto a class.
const PAGE_WORDS: Array<[RegExp, CaseClass]> = [
  [/402|insufficient|余额不足|额度不足|spend limit/i, 'insufficient_balance'],
  // Tasks before orders: "video still pending" is a running task, not an order in processing.
  [/(video|task|视频|任务).*(fail|cancel|expire|失败|取消|超时)|(fail|失败).*(video|task|视频|任务)/i, 'charged_for_failed_task'],
  [/reserved|预留|冻结|(video|task|视频|任务).*(running|pending|queued|生成中|进行中|排队)/i, 'task_running_reserved'],
  [/redeem|兑换/i, 'redeem_not_credited'],
  [/refund|退款|补偿|compensat/i, 'refund_or_compensation'],
  [/duplicate|twice|重复/i, 'duplicate_payment'],
  [/declined|payment failed|支付失败|付款失败/i, 'payment_failed'],
  [/processing|pending|处理中|等待/i, 'order_processing'],
  [/not credited|未到账|没到账|未入账/i, 'paid_not_credited'],
];

export function problemFromPageMessage(msg: string | undefined): CaseClass | undefined {
  if (!msg) return undefined;
  return PAGE_WORDS.find(([re]) => re.test(msg))?.[1];
}

// What a person copies from a receipt or a card: an order id (`ord_` and 26
// Crockford base32 characters) or its tail, or the tail of a redeem code
// (Crockford base32, shown as TALLY-****-…-XXXX). Anything before a mask
// (…, *, ...) is dropped; I/L read as 1 and O as 0, as redeem codes are read.
// Any other character is refused: the reference goes into a LIKE pattern and
// a lookup, and `_` or `%` there once matched other people's orders.
const REFERENCE = /^([a-z]{3}_)?([0-9a-z]{4,26})$/;
const CROCKFORD = /^[0-9a-hjkmnp-tv-z]+$/;

export function parseReference(raw: string): string {
  const s = raw
    .trim()
    .replace(/^.*[…*.]+/, '')
    .replace(/^[-\s]+/, '')
    .toLowerCase();
  const m = REFERENCE.exec(s);
  const body = m?.[2].replace(/[il]/g, '1').replace(/o/g, '0');
  if (!m || !body || !CROCKFORD.test(body)) {
    throw new TallyError(
      'invalid_reference',
      'reference must be an order id (ord_…) or at least its last 4 characters, or the last 4 characters of a redeem code: letters and digits only (never a full redeem code)',
      { param: 'reference' },
    );
  }
  return (m[1] ?? '') + body;
}

// API keys are `sk-` and base62: the hint is the last 4 of those characters.
export function parseKeyTail(raw: string): string {
  const s = raw.trim().slice(-4);
  if (!/^[A-Za-z0-9]{4}$/.test(s))
    throw new TallyError('invalid_key_hint', 'key must be the last 4 characters of the API key (letters and digits), e.g. from sk-…a1B2', { param: 'key' });
  return s;
}

/** Parses the hint fields of a query string or CLI flags (snake_case, strings). */
export function parseHints(raw: unknown): DiagnoseHints {
  const q = parseInput(HintSchema, raw);
  const h: DiagnoseHints = {};
  if (q.problem) h.problem = q.problem;
  if (q.method) h.method = q.method.trim().toLowerCase();
  if (q.order_time) {
    const t = Date.parse(q.order_time);
    if (!Number.isFinite(t))
      throw new TallyError('invalid_order_time', 'order_time must be a date and time, e.g. 2025-05-01T14:30:00+08:00', { param: 'order_time' });
    h.orderTime = t;
  }
  if (q.amount) h.amount = parsePositiveMoney(q.amount);
  if (q.reference) h.reference = parseReference(q.reference);
  if (q.key) h.key = parseKeyTail(q.key);
  if (q.page_message) h.pageMessage = q.page_message;
  if (q.submitted_twice !== undefined) h.submittedTwice = q.submitted_twice === true || ['true', '1', 'yes'].includes(String(q.submitted_twice));
  if (!h.problem) h.problem = problemFromPageMessage(h.pageMessage);
  return h;
}

const NEAR_MS = 3 * 3600_000;
export const nearTime = (h: DiagnoseHints, at: number) => h.orderTime === undefined || Math.abs(at - h.orderTime) <= NEAR_MS;
export const refMatches = (h: DiagnoseHints, id: string) => !h.reference || id.toLowerCase().endsWith(h.reference.toLowerCase());
