import { normalizeRedeemCode, displayCode } from '../redeem/format.ts';

// Everything a user types into a ticket is scanned before it is stored, and
// secrets are replaced by a masked form support can still match (last 4).
// Each detector validates what it found (Luhn for cards, the ISO 7064 check
// for resident IDs, the redeem check character, IBAN mod 97), so an order
// number or a timestamp that merely looks long is left alone: a scanner that
// eats ordinary numbers teaches people to work around it.
//
//   redactSecrets('my card 4111 1111 1111 1111, 密码: hunter2')
//   → text 'my card [card ****1111], 密码: [password removed]', kinds card_number + password

export type SecretKind = 'api_key' | 'redeem_code' | 'resident_id' | 'card_number' | 'bank_account' | 'password';

export interface Finding {
  kind: SecretKind;
  start: number;
  end: number;
  replacement: string;
}

export interface RedactionResult {
  text: string;
  findings: Array<{ kind: SecretKind; replacement: string }>;
  /** What the user is told, when something was removed. */
  notice: { en: string; zh: string } | null;
}

const digitsOf = (s: string) => s.replace(/\D/g, '');

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

/** A mainland China resident ID: 17 digits, a plausible birth date, and the ISO 7064 MOD 11-2 check character. */
export function residentIdValid(id: string): boolean {
  const s = id.toUpperCase();
  if (!/^\d{17}[\dX]$/.test(s)) return false;
  const y = Number(s.slice(6, 10));
  const m = Number(s.slice(10, 12));
  const d = Number(s.slice(12, 14));
  if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1 || d > 31) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (s.charCodeAt(i) - 48) * ID_WEIGHTS[i];
  return ID_CHECK[sum % 11] === s[17];
}

/** An IBAN: country, two check digits, up to 30 characters, mod 97 = 1. */
export function ibanValid(raw: string): boolean {
  const s = raw.replace(/\s/g, '').toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(s)) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const v = ch >= 'A' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const c of v) rem = (rem * 10 + (c.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

type Detector = (text: string) => Finding[];

function matches(text: string, re: RegExp, fn: (m: RegExpExecArray) => Finding | null): Finding[] {
  const out: Finding[] = [];
  for (const m of text.matchAll(re)) {
    const f = fn(m as RegExpExecArray);
    if (f) out.push(f);
  }
  return out;
}

const apiKeys: Detector = (t) =>
  matches(t, /\bsk-[A-Za-z0-9_-]{16,}/g, (m) => ({ kind: 'api_key', start: m.index, end: m.index + m[0].length, replacement: `sk-…${m[0].slice(-4)}` }));

// With the TALLY prefix any spacing is accepted; without it only the printed
// shape (five hyphenated groups) or one 20-character run with letters, so an
// IBAN or a long number is not mistaken for a code that happens to check.
const redeemCodes: Detector = (t) =>
  matches(
    t,
    /(?<![A-Za-z0-9])(?:TALLY[\s_-]*(?:[0-9A-Za-z]{4}[\s_-]?){4}[0-9A-Za-z]{4}|(?:[0-9A-Za-z]{4}-){4}[0-9A-Za-z]{4}|[0-9A-Za-z]{20})(?![A-Za-z0-9])/gi,
    (m) => {
      if (/^\d+$/.test(m[0])) return null;
      const n = normalizeRedeemCode(m[0]);
      return n.ok ? { kind: 'redeem_code', start: m.index, end: m.index + m[0].length, replacement: displayCode(n.normalized) } : null;
    },
  );

const residentIds: Detector = (t) =>
  matches(t, /(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])/g, (m) =>
    residentIdValid(m[0]) ? { kind: 'resident_id', start: m.index, end: m.index + m[0].length, replacement: '[resident ID removed]' } : null,
  );

// Digits grouped by spaces or hyphens, as cards are printed; 13–19 digits in all.
const cards: Detector = (t) =>
  matches(t, /(?<![0-9])\d(?:[ -]?\d){12,18}(?![0-9])/g, (m) => {
    const d = digitsOf(m[0]);
    if (d.length < 13 || d.length > 19 || !luhnValid(d)) return null;
    return { kind: 'card_number', start: m.index, end: m.index + m[0].length, replacement: `[card ****${d.slice(-4)}]` };
  });

// Account numbers carry no check digit in most banks, so only a number that
// follows words naming it as an account is taken (plus valid IBANs anywhere).
const BANK_CONTEXT =
  /(银行账号|银行帐号|银行卡号|银行账户|对公账户|收款账号|开户行账号|卡号|账号|帐号|bank\s+account(?:\s+(?:number|no\.?|#))?|account\s+(?:number|no\.?|#)|acct\.?(?:\s*(?:no\.?|#))?|a\/c)\s*(?:is|是|为|[:：=#])?\s*/gi;
const bankAccounts: Detector = (t) => {
  const out: Finding[] = [];
  for (const m of t.matchAll(BANK_CONTEXT)) {
    const start = m.index + m[0].length;
    const num = /^\d(?:[ -]?\d){7,29}(?![0-9])/.exec(t.slice(start));
    if (!num) continue;
    const d = digitsOf(num[0]);
    out.push({ kind: 'bank_account', start, end: start + num[0].length, replacement: `[bank account ****${d.slice(-4)}]` });
  }
  out.push(
    ...matches(t, /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g, (m) =>
      ibanValid(m[0])
        ? { kind: 'bank_account', start: m.index, end: m.index + m[0].length, replacement: `[bank account ****${m[0].replace(/\s/g, '').slice(-4)}]` }
        : null,
    ),
  );
  return out;
};

// The value after "password is / password: / 密码是 / 密码:"; the word alone ("I forgot my password") is not a secret.
const passwords: Detector = (t) =>
  matches(t, /(password|passwd|pwd|passcode|密码|口令)(\s*(?:is|was|=|:|：|是|为|为：|是：)\s*)(["'“「]?)([^\s"'”」，,。;；]{1,128})/gi, (m) => {
    const start = m.index + m[1].length + m[2].length + m[3].length;
    return { kind: 'password', start, end: start + m[4].length, replacement: '[password removed]' };
  });

// Order matters where shapes overlap: a resident ID is also 18 digits that may pass Luhn.
const DETECTORS: Detector[] = [apiKeys, redeemCodes, residentIds, cards, bankAccounts, passwords];

export function findSecrets(text: string): Finding[] {
  const taken: Finding[] = [];
  for (const detect of DETECTORS) {
    for (const f of detect(text)) {
      if (!taken.some((x) => f.start < x.end && x.start < f.end)) taken.push(f);
    }
  }
  return taken.sort((a, b) => a.start - b.start);
}

const KIND_NAMES: Record<SecretKind, { en: string; zh: string }> = {
  api_key: { en: 'an API key', zh: 'API Key' },
  redeem_code: { en: 'a full redeem code', zh: '完整兑换码' },
  resident_id: { en: 'a resident ID number', zh: '身份证号' },
  card_number: { en: 'a card number', zh: '银行卡号' },
  bank_account: { en: 'a bank account number', zh: '银行账号' },
  password: { en: 'a password', zh: '密码' },
};

export function redactionNotice(kinds: SecretKind[]): { en: string; zh: string } | null {
  const unique = [...new Set(kinds)];
  if (!unique.length) return null;
  return {
    en: `We removed ${unique.map((k) => KIND_NAMES[k].en).join(', ')} from your message before saving it (the last 4 characters are kept so support can match it). Don't paste full codes, card numbers, keys or passwords in a public channel: anyone who sees them can use them. If an API key or password was exposed, revoke or change it now.`,
    zh: `为保护您的账户,我们在保存前移除了您消息中的${unique.map((k) => KIND_NAMES[k].zh).join('、')}(仅保留末 4 位供客服核对)。请不要在公开渠道发送完整兑换码、银行卡号、API Key 或密码,任何看到的人都可能使用它们。如果 API Key 或密码已经泄露,请立即吊销或修改。`,
  };
}

export function redactSecrets(text: string): RedactionResult {
  const found = findSecrets(text);
  let out = '';
  let at = 0;
  for (const f of found) {
    out += text.slice(at, f.start) + f.replacement;
    at = f.end;
  }
  out += text.slice(at);
  return { text: out, findings: found.map((f) => ({ kind: f.kind, replacement: f.replacement })), notice: redactionNotice(found.map((f) => f.kind)) };
}

/** Redacts every string field of a flat record; returns the redacted record and all findings. */
export function redactFields<T extends Record<string, unknown>>(
  fields: T,
): { fields: T; findings: Array<{ field: string; kind: SecretKind; replacement: string }> } {
  const out: Record<string, unknown> = {};
  const findings: Array<{ field: string; kind: SecretKind; replacement: string }> = [];
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === 'string') {
      const r = redactSecrets(v);
      out[k] = r.text;
      for (const f of r.findings) findings.push({ field: k, ...f });
    } else out[k] = v;
  }
  return { fields: out as T, findings };
}
