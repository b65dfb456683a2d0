//! Request rate limits: a token bucket per API token, and per client address for requests that
//! carry none. `governor` (MIT) provides the buckets; `actix-governor` is not used because it is
//! GPL-licensed, and the check needs the caller the access check found anyway.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Whose bucket a request draws from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    Token(Arc<str>),
    Address(IpAddr),
}

pub struct RateLimits {
    limiter: DefaultKeyedRateLimiter<LimitKey>,
    clock: DefaultClock,
}

impl RateLimits {
    /// `per_second` requests per second with a burst of twice that; `None` for 0 (no limit).
    pub fn new(per_second: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
        })
    }

    /// Take one request from `key`'s bucket, or say how long until one is available.
    pub fn check(&self, key: &LimitKey) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drop the buckets of callers that have been quiet long enough to be full again, so that
    /// many one-off client addresses do not grow memory.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_a_wait_and_keys_are_separate() {
        let limits = RateLimits::new(5).unwrap();
        let a = LimitKey::Token("a".into());
        let b = LimitKey::Address("127.0.0.1".parse().unwrap());
        for _ in 0..10 {
            assert!(limits.check(&a).is_ok());
        }
        let wait = limits.check(&a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        assert!(limits.check(&b).is_ok(), "another key has its own bucket");
        assert!(RateLimits::new(0).is_none());
    }
}
