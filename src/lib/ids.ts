import { randomBytes } from 'node:crypto';

// One id generator for the whole codebase: `<prefix>_<time><random>`.
// The first 10 characters encode the creation time in Crockford base32, so ids
// sort by creation time (like ULIDs) and are still unguessable (80 random bits).
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

let lastMs = 0;

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(bytes: Buffer): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 31];
    }
  }
  return out;
}

export type IdPrefix =
  | 'usr' | 'key' | 'ses' | 'trf' | 'hld' | 'aud' | 'req' | 'ord' | 'evt'
  | 'chn' | 'rdb' | 'rdc' | 'rda' | 'tkt' | 'tsk' | 'grp' | 'att';

export function newId(prefix: IdPrefix): string {
  const now = Date.now();
  lastMs = now > lastMs ? now : lastMs;
  return `${prefix}_${encodeTime(lastMs)}${encodeRandom(randomBytes(10))}`;
}
