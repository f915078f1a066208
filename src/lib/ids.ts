import { randomBytes } from 'node:crypto';

// One id generator for the whole codebase: `<prefix>_<time><random>`.
// The first 10 characters encode the creation time in Crockford base32, so ids
// sort by creation time (like ULIDs) and are still unguessable (80 random bits).
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

let lastMs = 0;
let lastRandom: Buffer = Buffer.alloc(10);

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
  | 'usr'
  | 'key'
  | 'ses'
  | 'trf'
  | 'hld'
  | 'aud'
  | 'req'
  | 'ord'
  | 'evt'
  | 'chn'
  | 'rdb'
  | 'rdc'
  | 'rda'
  | 'tkt'
  | 'tsk'
  | 'grp'
  | 'att'
  | 'rfd'
  | 'trd'
  | 'tkm'
  | 'hnd'
  | 'apr'
  | 'video'
  | 'tev'
  | 'alt'
  | 'team'
  | 'tmb'
  | 'atk'
  | 'inv'
  // two-factor recovery codes and sign-in challenges
  | 'rec'
  | 'tfc'
  // channel probes
  | 'prb';

/** Increments an 80-bit big-endian number in place; false on overflow. */
function increment(b: Buffer): boolean {
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] < 255) {
      b[i]++;
      return true;
    }
    b[i] = 0;
  }
  return false;
}

/**
 * Ids made by this process sort in creation order, like ULIDs: within one
 * millisecond the random part is the previous one plus one (statements are
 * ordered by id, and their balance-after column must chain).
 */
export function newId(prefix: IdPrefix): string {
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    lastTime = encodeTime(now);
    lastRandom = freshRandom();
  } else if (!increment(lastRandom)) {
    lastMs++;
    lastTime = encodeTime(lastMs);
    lastRandom = freshRandom();
  }
  return `${prefix}_${lastTime}${encodeRandom(lastRandom)}`;
}

// Random bytes are drawn from the CSPRNG 4 KB at a time (one call instead of
// one per millisecond on a busy relay); each id's random part is a fresh copy.
let pool = Buffer.alloc(0);
let poolAt = 0;
let lastTime = '';

function freshRandom(): Buffer {
  if (poolAt + 10 > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  const b = Buffer.from(pool.subarray(poolAt, poolAt + 10));
  poolAt += 10;
  return b;
}

/**
 * The lowest id of a prefix made at `ms` or later: ids sort by creation time,
 * so a time range is a primary-key range (the dashboard reads the request log
 * this way instead of paying for a time index on every settlement).
 */
export function idFloor(prefix: IdPrefix, ms: number): string {
  return `${prefix}_${encodeTime(Math.max(0, Math.floor(ms)))}`;
}
