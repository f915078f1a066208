import * as nodeCrypto from 'node:crypto';
import { createHash, createHmac, randomBytes, timingSafeEqual, createCipheriv, createDecipheriv } from 'node:crypto';

// crypto.hash (one call, no Hash object) is about twice as fast for short
// inputs such as API keys, which are hashed on every relayed request.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: string, enc: 'hex') => string }).hash;

export const sha256Hex = oneShot ? (s: string) => oneShot('sha256', s, 'hex') : (s: string) => createHash('sha256').update(s).digest('hex');

export const hmacHex = (secret: string, s: string) => createHmac('sha256', secret).update(s).digest('hex');

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `length` characters of base62 with rejection sampling (no modulo bias): 5.95 bits each. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248) out += BASE62[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** AES-256-GCM with a key derived from TALLY_SECRET; used for upstream API keys at rest. */
export function encryptSecret(secret: string, plaintext: string): string {
  const key = createHash('sha256').update(`tally:enc:${secret}`).digest();
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return `v1:${iv.toString('base64url')}:${c.getAuthTag().toString('base64url')}:${ct.toString('base64url')}`;
}

export function decryptSecret(secret: string, box: string): string {
  const [v, iv, tag, ct] = box.split(':');
  if (v !== 'v1') throw new Error('unknown secret box version');
  const key = createHash('sha256').update(`tally:enc:${secret}`).digest();
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  d.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8');
}
