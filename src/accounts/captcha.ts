import type { Config } from '../config/index.ts';
import { TallyError } from '../lib/errors.ts';

// Cloudflare Turnstile or hCaptcha on sign-up (TALLY_TURNSTILE_SECRET /
// TALLY_HCAPTCHA_SECRET). Both check a widget's answer the same way: a form
// POST of secret, response and remoteip to their siteverify endpoint, which
// answers {"success": true|false, ...}. The endpoint is configurable
// (TALLY_CAPTCHA_VERIFY_URL) so a test can stand in for the provider.

type Captcha = NonNullable<Config['accounts']['captcha']>;

export async function verifyCaptcha(captcha: Captcha, input: { response: string | undefined; ip: string | null }): Promise<void> {
  if (!input.response) {
    throw new TallyError(
      'captcha_failed',
      `solve the ${captcha.provider === 'turnstile' ? 'Turnstile' : 'hCaptcha'} check and send its answer as captcha_token`,
      {
        param: 'captcha_token',
      },
    );
  }
  const form = new URLSearchParams({ secret: captcha.secret, response: input.response });
  if (input.ip) form.set('remoteip', input.ip);
  let ok = false;
  try {
    const res = await fetch(captcha.verifyUrl, { method: 'POST', body: form, signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { success?: unknown };
    ok = res.ok && body.success === true;
  } catch {
    // The provider could not be asked: fail closed, the person can try again.
    throw new TallyError('captcha_failed', 'the captcha could not be checked just now; try again in a moment', { param: 'captcha_token' });
  }
  if (!ok) throw new TallyError('captcha_failed', 'the captcha answer was not accepted; solve the check again', { param: 'captcha_token' });
}
