// A per-channel circuit breaker. After `threshold` consecutive failures the
// channel is skipped for `cooldownMs`; then one request is let through as a
// probe: success closes the breaker, failure opens it again.
export interface BreakerOptions {
  threshold: number;
  cooldownMs: number;
}

export class Breaker {
  private failures = 0;
  private openUntil = 0;
  private probing = false;
  lastError: string | null = null;
  lastErrorAt: number | null = null;

  constructor(private readonly opts: BreakerOptions) {}

  state(now: number): 'closed' | 'open' | 'half_open' {
    if (this.failures < this.opts.threshold) return 'closed';
    return now < this.openUntil ? 'open' : 'half_open';
  }

  /** Whether a request may use the channel now; in half-open state only one probe at a time. */
  tryAcquire(now: number): boolean {
    const s = this.state(now);
    if (s === 'closed') return true;
    if (s === 'open' || this.probing) return false;
    this.probing = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
  }

  failure(now: number, error: string): void {
    this.failures++;
    this.probing = false;
    this.lastError = error;
    this.lastErrorAt = now;
    if (this.failures >= this.opts.threshold) this.openUntil = now + this.opts.cooldownMs;
  }

  snapshot(now: number) {
    return {
      state: this.state(now),
      consecutive_failures: this.failures,
      open_until: this.openUntil > now ? new Date(this.openUntil).toISOString() : null,
      last_error: this.lastError,
      last_error_at: this.lastErrorAt ? new Date(this.lastErrorAt).toISOString() : null,
    };
  }
}
