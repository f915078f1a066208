import { Secret, TOTP } from 'otpauth';

// RFC 6238 codes as every authenticator app computes them: SHA-1, 6 digits,
// 30-second steps. A code is accepted for its own step and one step either
// side (clock drift between the phone and the server); which step it matched
// is returned so the caller can refuse it the second time (see factor.ts).

export const TOTP_PERIOD_MS = 30_000;
const PARAMS = { algorithm: 'SHA1', digits: 6, period: TOTP_PERIOD_MS / 1000 } as const;

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The otpauth:// URI an authenticator app reads from the QR code. */
export function totpUri(secretBase32: string, opts: { issuer: string; account: string }): string {
  return new TOTP({ ...PARAMS, issuer: opts.issuer, label: opts.account, secret: Secret.fromBase32(secretBase32) }).toString();
}

/** The time step `code` belongs to (now's step ±1), or null when it is not a current code. */
export function totpStepOf(secretBase32: string, code: string, now: number): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const delta = new TOTP({ ...PARAMS, secret: Secret.fromBase32(secretBase32) }).validate({ token: code, timestamp: now, window: 1 });
  return delta === null ? null : Math.floor(now / TOTP_PERIOD_MS) + delta;
}
