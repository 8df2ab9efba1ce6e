// A token bucket, as EC2 throttles its API (EC2 API throttling page: "resource rate limiting" per account and
// region). Pure: the caller owns the clock. Used to pace fleet fixes to ModifyInstanceMetadataOptions' bucket
// instead of running into throttling and burning retries.

export interface BucketConfig {
  /** Bucket size: calls allowed at once after an idle period. */
  burst: number;
  /** Tokens added per second. */
  refillPerSecond: number;
}

/** Tokens in the bucket at `at` (ms since epoch). Negative = calls already promised to waiting callers. */
export interface Bucket {
  tokens: number;
  at: number;
}

/** A full bucket at `now`: what an idle account has (the previous run ended long ago). */
export function fullBucket(cfg: BucketConfig, now: number): Bucket {
  return { tokens: cfg.burst, at: now };
}

/** The bucket refilled up to `now`, capped at `burst`. */
export function refill(b: Bucket, cfg: BucketConfig, now: number): Bucket {
  if (now <= b.at) return b;
  return { tokens: Math.min(cfg.burst, b.tokens + ((now - b.at) / 1000) * cfg.refillPerSecond), at: now };
}

/**
 * Reserves one token: the new bucket and how long (ms) the caller waits before its call. Reservations made in a
 * row wait 1/refill apart, so concurrent callers never exceed the bucket.
 */
export function take(b: Bucket, cfg: BucketConfig, now: number): { bucket: Bucket; waitMs: number } {
  const r = refill(b, cfg, now);
  const waitMs = r.tokens >= 1 ? 0 : Math.ceil(((1 - r.tokens) / cfg.refillPerSecond) * 1000);
  return { bucket: { tokens: r.tokens - 1, at: r.at }, waitMs };
}

/** Seconds until `remaining` more calls are through, with the bucket as it is at `now`. */
export function etaSeconds(remaining: number, b: Bucket, cfg: BucketConfig, now: number): number {
  const tokens = Math.max(0, refill(b, cfg, now).tokens);
  return Math.max(0, Math.ceil((remaining - Math.floor(tokens)) / cfg.refillPerSecond));
}
