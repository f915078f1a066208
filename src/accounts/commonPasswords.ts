import { readFileSync } from 'node:fs';
import { TallyError } from '../lib/errors.ts';
import { checkPasswordStrength } from './passwords.ts';

// Passwords too common to accept. commonPasswords.txt holds, lowercase, the
// words people build passwords from most (names, teams, "password", "qwerty",
// pinyin such as "woaini") and whole keyboard walks and digit runs
// ("1q2w3e4r", "147258369"); a password is refused when, lowercased, it is one
// of them, or is one of them with the usual decoration: digits and symbols
// before or after ("Dragon2024!", "123monkey"), leetspeak ("p@ssw0rd"), or the
// word twice. Every check is a Set lookup on a string at most as long as the
// password (at most 200 characters), so the cost is linear in its length.

const LIST: ReadonlySet<string> = new Set(
  readFileSync(new URL('./commonPasswords.txt', import.meta.url), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean),
);

const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's', '!': 'i' };

const deLeet = (s: string) => s.replace(/[013457@$!]/g, (c) => LEET[c]);

/** Whether the password is a common one (or a common word dressed up); `context` adds words of this account (its e-mail). */
export function isCommonPassword(password: string, context: string[] = []): boolean {
  const p = password.toLowerCase();
  const own = new Set(context.map((c) => c.toLowerCase()).filter((c) => c.length >= 4));
  const has = (s: string) => s.length >= 4 && (LIST.has(s) || own.has(s));
  if (has(p)) return true;
  const bare = p.replace(/^[\d\W_]+/, '').replace(/[\d\W_]+$/, '');
  if (has(bare) || has(deLeet(p)) || has(deLeet(bare))) return true;
  // The same word twice ("monkeymonkey").
  const half = bare.length / 2;
  if (Number.isInteger(half) && bare.slice(0, half) === bare.slice(half) && has(bare.slice(0, half))) return true;
  // One character repeated, however long ("aaaaaaaaaaaa").
  return p.length > 0 && p.split('').every((c) => c === p[0]);
}

/** The rules a password someone chooses must pass (sign-up, reset, change): length, then not a common one. */
export function assertAcceptablePassword(password: string, email: string): void {
  const weak = checkPasswordStrength(password);
  if (weak) throw new TallyError('weak_password', weak, { param: 'password' });
  const [local = '', domain = ''] = email.toLowerCase().split('@');
  if (isCommonPassword(password, [local, domain.split('.')[0] ?? '', 'tally'])) {
    throw new TallyError(
      'common_password',
      'this password is one of the most common ones (or a common word with digits added); choose a longer, less guessable one',
      {
        param: 'password',
      },
    );
  }
}
