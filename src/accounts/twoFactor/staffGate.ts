import type { DbOrTx } from '../../db/index.ts';
import { sha256Hex } from '../../lib/crypto.ts';
import { TallyError } from '../../lib/errors.ts';
import { PERMISSIONS, type Permission, type StaffAction } from '../../support/permissions.ts';

// The second factor on the staff API, in one place (requireStaff calls it for
// every staff session; the admin token and the CLI never come here: they are
// the operator, authenticated by a secret only the host has).
//
// - TALLY_STAFF_2FA=on: a support or admin session without 2FA reaches no
//   staff route (403 two_factor_setup_required) until they set it up; their
//   own account pages and the 2FA setup stay open.
// - A staff user who has 2FA (whatever TALLY_STAFF_2FA says) needs a RECENT
//   second factor for the actions that move money (permission kind `money`:
//   refunds, compensation, manual credit, approvals...) and for reveals:
//   the session must have shown a code in the last 15 minutes
//   (sessions.two_factor_at: set at sign-in with a code and by
//   POST /api/auth/2fa/confirm), else 403 second_factor_required. A session
//   left open on a shared desk then cannot move money.

export const RECENT_FACTOR_MS = 15 * 60_000;

const REVEALS: ReadonlySet<StaffAction> = new Set<StaffAction>(['users.reveal']);

export function needsRecentFactor(action: StaffAction | null): boolean {
  if (!action) return false;
  const p: Permission = PERMISSIONS[action];
  return p.kind === 'money' || REVEALS.has(action);
}

export async function checkStaffSecondFactor(
  db: DbOrTx,
  input: { sessionToken: string; action: StaffAction | null; staffTwoFactor: boolean; now: number },
): Promise<void> {
  const row = await db
    .selectFrom('sessions as s')
    .leftJoin('two_factor as t', (j) => j.onRef('t.user_id', '=', 's.user_id').on('t.enabled_at', 'is not', null))
    .select(['s.two_factor_at', 't.user_id as has_2fa'])
    .where('s.token_hash', '=', sha256Hex(input.sessionToken))
    .executeTakeFirst();
  const enabled = row?.has_2fa != null;
  if (!enabled) {
    if (input.staffTwoFactor) {
      throw new TallyError(
        'two_factor_setup_required',
        'set up two-factor sign-in first: staff accounts need it here (TALLY_STAFF_2FA=on); open Security in the console or POST /api/auth/2fa/setup',
      );
    }
    return;
  }
  if (!needsRecentFactor(input.action)) return;
  const at = row?.two_factor_at == null ? null : Number(row.two_factor_at);
  if (at === null || input.now - at > RECENT_FACTOR_MS) {
    throw new TallyError(
      'second_factor_required',
      'this action needs a recent second factor: enter a code from your app (POST /api/auth/2fa/confirm {code}) and try again within 15 minutes',
    );
  }
}
