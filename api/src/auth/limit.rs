//! Rate limiting per token (GCRA, the `governor` crate).
//!
//! The key is the hash of the presented token, checked before the token is
//! looked up, so a flood with one token, valid or not, is turned away without
//! reaching the database. Requests without a token are refused with 401
//! before any lookup, so they need no limit of their own.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;
    use contaxy_common::domain::TokenSecret;

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
