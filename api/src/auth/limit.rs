//! Rate limiting (GCRA, the `governor` crate), in two kinds:
//!
//! - [`TokenRateLimiter`], per token: the key is the hash of the presented
//!   token, checked before the token is looked up, so a flood with one
//!   token, valid or not, is turned away without reaching the database.
//! - [`AddressLimiter`], per client address, for unknown tokens: each new
//!   random token would pass the per-token limit and cost a lookup, so an
//!   address that presented too many unknown tokens is refused (429) before
//!   any lookup until its bucket fills again.
//!
//! Requests without a token are refused with 401 before any lookup, so they
//! need no limit of their own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio_util::sync::CancellationToken;

use contaxy_common::domain::TokenHash;

/// How often keys whose bucket is full again are forgotten.
const FORGET_INTERVAL: Duration = Duration::from_secs(60);

/// A rate limiter keyed by token hash.
#[derive(Debug, Clone)]
pub struct TokenRateLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<TokenHash>>,
    clock: DefaultClock,
}

impl TokenRateLimiter {
    /// `per_second` requests per second with bursts of `burst`; `None` when
    /// `per_second` is 0 (no limit). A task forgets idle tokens until
    /// `shutdown`, so memory stays bounded by the tokens seen recently.
    pub fn new(per_second: u32, burst: u32, shutdown: CancellationToken) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let limiter = Arc::new(RateLimiter::keyed(
            Quota::per_second(rate).allow_burst(burst),
        ));
        let forgetting = Arc::downgrade(&limiter);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FORGET_INTERVAL);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => match forgetting.upgrade() {
                        Some(limiter) => {
                            limiter.retain_recent();
                            limiter.shrink_to_fit();
                        }
                        None => return,
                    },
                }
            }
        });
        Some(Self {
            limiter,
            clock: DefaultClock::default(),
        })
    }

    /// `Ok` when `token` may make a request now, else how long to wait.
    pub fn check(&self, token: &TokenHash) -> Result<(), Duration> {
        self.limiter
            .check_key(token)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Addresses refused for presenting unknown tokens, at most this many at
/// once (the oldest refusal is forgotten first beyond it).
const MAX_BLOCKED_ADDRESSES: usize = 100_000;

/// How many unknown tokens one client address may present: a bucket per
/// address, charged only when a token turns out unknown. An address whose
/// bucket is empty is refused before any lookup until it refills.
#[derive(Debug, Clone)]
pub struct AddressLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    blocked: Arc<Mutex<HashMap<IpAddr, Instant>>>,
    clock: DefaultClock,
}

impl AddressLimiter {
    /// `per_minute` unknown tokens a minute with bursts of `burst`; `None`
    /// when `per_minute` is 0 (no limit). A task forgets idle addresses
    /// until `shutdown`.
    pub fn new(per_minute: u32, burst: u32, shutdown: CancellationToken) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let this = Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_minute(rate).allow_burst(burst),
            )),
            blocked: Arc::default(),
            clock: DefaultClock::default(),
        };
        let forgetting = this.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FORGET_INTERVAL);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => forgetting.forget_idle(),
                }
            }
        });
        Some(this)
    }

    /// `Err(wait)` while `address` is refused for its unknown tokens.
    pub fn check(&self, address: IpAddr) -> Result<(), Duration> {
        let Ok(mut blocked) = self.blocked.lock() else {
            return Ok(());
        };
        match blocked.get(&address) {
            Some(until) => {
                let now = Instant::now();
                if *until > now {
                    Err(*until - now)
                } else {
                    blocked.remove(&address);
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    /// Charges `address` for one unknown token; `Err(wait)` when that
    /// emptied its bucket (it is refused from now on, for `wait`).
    pub fn charge_unknown(&self, address: IpAddr) -> Result<(), Duration> {
        let Err(not_until) = self.limiter.check_key(&address) else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(self.clock.now());
        if let Ok(mut blocked) = self.blocked.lock() {
            let now = Instant::now();
            if blocked.len() >= MAX_BLOCKED_ADDRESSES {
                blocked.retain(|_, until| *until > now);
            }
            if blocked.len() < MAX_BLOCKED_ADDRESSES {
                blocked.insert(address, now + wait);
            }
        }
        Err(wait)
    }

    /// Forgets addresses whose buckets are full again.
    fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        if let Ok(mut blocked) = self.blocked.lock() {
            let now = Instant::now();
            blocked.retain(|_, until| *until > now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contaxy_common::domain::TokenSecret;

    #[tokio::test]
    async fn an_address_is_refused_after_its_unknown_tokens_and_others_are_not() {
        let stop = CancellationToken::new();
        let limiter = AddressLimiter::new(1, 3, stop.clone()).expect("enabled");
        let noisy: IpAddr = [192, 0, 2, 1].into();
        for _ in 0..3 {
            assert!(limiter.check(noisy).is_ok());
            assert!(limiter.charge_unknown(noisy).is_ok());
        }
        let wait = limiter.charge_unknown(noisy).expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(limiter.check(noisy).is_err(), "refused before any lookup");
        let quiet: IpAddr = [192, 0, 2, 2].into();
        assert!(limiter.check(quiet).is_ok());
        assert!(AddressLimiter::new(0, 3, stop.clone()).is_none());
        stop.cancel();
    }

    #[tokio::test]
    async fn a_token_is_limited_after_its_burst_and_others_are_not() {
        let limiter = TokenRateLimiter::new(1, 3, CancellationToken::new()).expect("enabled");
        let busy = TokenSecret::generate().hash();
        for _ in 0..3 {
            assert!(limiter.check(&busy).is_ok());
        }
        let wait = limiter.check(&busy).expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limiter.check(&TokenSecret::generate().hash()).is_ok());
    }

    #[test]
    fn zero_per_second_means_no_limit() {
        assert!(TokenRateLimiter::new(0, 10, CancellationToken::new()).is_none());
    }
}
