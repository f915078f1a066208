// Provider payloads are kept on order events for support, minus anything that
// could authenticate as us or identify a card or account.
const SECRET_KEYS =
  /^(sign|key|secret|client_secret|password|card|card_number|number|cvc|account|buyer_id|buyer_logon_id|payment_method_details|billing_details|customer_details|customer_email|receipt_email|email|phone)$/i;

export function stripSecrets(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return typeof value === 'bigint' ? value.toString() : value;
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => stripSecrets(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.test(k) ? '[stripped]' : stripSecrets(v, depth + 1);
  return out;
}
