import { randomBytes } from 'node:crypto';
import { hmacHex } from '../lib/crypto.ts';

// Redeem codes look like `TALLY-7K3M-Q9XD-2VHT-A8NP-R4C6`: 20 Crockford base32
// characters, 19 random (95 bits, so guessing is hopeless even without the
// rate limits) and a Luhn mod 32 check character, grouped by four. Crockford
// has no I, L, O or U, so people reading a code off a card cannot confuse
// 1/I/L or 0/O: input is folded onto the alphabet. The check character
// catches every single-character typo and almost every swap of neighbours
// before the database is asked, so a typo says "mistyped", not "not found".
//
//   normalizeRedeemCode(' tally-7k3m q9xd-2vht-a8np-r4c6 ') → { ok: true, normalized: '7K3MQ9XD2VHTA8NPR4C6' }

export const CODE_PREFIX = 'TALLY';
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const BODY_LENGTH = 20; // 19 random characters + 1 check character
const RANDOM_LENGTH = BODY_LENGTH - 1;
const BODY = /^[0-9A-HJKMNP-TV-Z]{20}$/;

const charValue = (c: string) => ALPHABET.indexOf(c);

/** Luhn mod N with N = 32: the running sum over the characters, doubling every other one from the right. */
function luhnSum(s: string, doubleFirst: boolean): number {
  let sum = 0;
  let double = doubleFirst;
  for (let i = s.length - 1; i >= 0; i--) {
    let v = charValue(s[i]) * (double ? 2 : 1);
    v = Math.floor(v / 32) + (v % 32);
    sum += v;
    double = !double;
  }
  return sum % 32;
}

export function checkCharacter(randomPart: string): string {
  return ALPHABET[(32 - luhnSum(randomPart, true)) % 32];
}

export const hasValidCheck = (normalized: string) => luhnSum(normalized, false) === 0;

/** A fresh code in its normalised form (20 characters, no prefix, no hyphens). */
export function generateNormalizedCode(): string {
  // 256 is a multiple of 32, so `byte & 31` has no modulo bias.
  const body = Array.from(randomBytes(RANDOM_LENGTH), (b) => ALPHABET[b & 31]).join('');
  return body + checkCharacter(body);
}

/** `TALLY-XXXX-XXXX-XXXX-XXXX-XXXX`: what is printed on a card and typed back. */
export function formatCode(normalized: string): string {
  return [CODE_PREFIX, ...(normalized.match(/.{1,4}/g) ?? [])].join('-');
}

/** The only form shown after generation: the last 4 characters. */
export function displayCode(normalized: string): string {
  return `${CODE_PREFIX}-****-****-****-****-${normalized.slice(-4)}`;
}

export type NormalizeResult = { ok: true; normalized: string } | { ok: false; reason: 'invalid_format' | 'mistyped' };

function clean(raw: string): string {
  let s = raw.toUpperCase().replace(/[\s\-_\u2010-\u2015\u2212]/g, '');
  if (s.startsWith(CODE_PREFIX)) s = s.slice(CODE_PREFIX.length);
  return s;
}

/** Case, spaces and hyphens do not matter; I and L read as 1, O as 0. */
export function normalizeRedeemCode(raw: unknown): NormalizeResult {
  if (typeof raw !== 'string') return { ok: false, reason: 'invalid_format' };
  const s = clean(raw).replace(/[IL]/g, '1').replace(/O/g, '0');
  if (!BODY.test(s) || s.length !== BODY_LENGTH) return { ok: false, reason: 'invalid_format' };
  if (!hasValidCheck(s)) return { ok: false, reason: 'mistyped' };
  return { ok: true, normalized: s };
}

/**
 * What an attempt record keeps of whatever was typed: the last 4 characters
 * at most, in the display shape when it had the shape of a code. Support can
 * match it against the user's card without the record being a usable code.
 */
export function maskCodeInput(raw: unknown): string {
  if (typeof raw !== 'string') return '****';
  const s = clean(raw).replace(/[^0-9A-Z]/g, '');
  if (s.length === BODY_LENGTH) return displayCode(s);
  return s.length >= 8 ? `****${s.slice(-4)}` : '****';
}

/**
 * The stored form: HMAC-SHA256 keyed with TALLY_SECRET. A database dump alone
 * cannot be turned into codes (a plain sha256 of a known format could be
 * checked offline), and lookups stay an index hit.
 */
export const hashRedeemCode = (secret: string, normalized: string) => hmacHex(secret, `redeem:v1:${normalized}`);
