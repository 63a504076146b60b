//! An hourly budget per client address, for actions that cost a stored row
//! (dynamic client registrations): a burst of up to the hourly allowance,
//! then one more each `1 h / allowance`, with memory bounded however many
//! addresses try.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::throttle::address_group;

/// Most addresses remembered at once; beyond it the entry closest to being
/// forgotten goes first. An address evicted early only gets its budget
/// back sooner: memory stays bounded under a flood of addresses.
pub const MAX_ADDRESSES: usize = 16_384;

/// GCRA over an hour, per address group (an IPv4 address, an IPv6 /64).
#[derive(Debug)]
pub struct HourlyBudget {
    per_hour: u32,
    /// Theoretical arrival time per address group: how far ahead of now
    /// its spending has run.
    tat: Mutex<HashMap<[u8; 17], OffsetDateTime>>,
}

impl HourlyBudget {
    /// A budget of `per_hour` actions an hour per address; 0 means no
    /// limit.
    pub fn new(per_hour: u32) -> Self {
        Self {
            per_hour,
            tat: Mutex::new(HashMap::new()),
        }
    }

    /// Spends one action for `ip` at `now`.
    ///
    /// # Errors
    /// How long until the next action would be allowed, when the budget is
    /// spent (nothing is charged then).
    pub fn spend(&self, ip: Option<IpAddr>, now: OffsetDateTime) -> Result<(), Duration> {
        if self.per_hour == 0 {
            return Ok(());
        }
        let interval = Duration::hours(1) / self.per_hour;
        let key = address_group(ip);
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        let current = tat.get(&key).copied().unwrap_or(now).max(now);
        let next = current + interval;
        if next - now > Duration::hours(1) {
            return Err(next - now - Duration::hours(1));
        }
        if tat.len() >= MAX_ADDRESSES && !tat.contains_key(&key) {
            tat.retain(|_, t| *t > now);
            if tat.len() >= MAX_ADDRESSES
                && let Some(soonest) = tat.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k)
            {
                tat.remove(&soonest);
            }
        }
        tat.insert(key, next);
        Ok(())
    }

    /// Forgets addresses whose budget is whole again.
    pub fn prune(&self, now: OffsetDateTime) {
        self.tat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, t| *t > now);
    }

    /// How many addresses are remembered.
    pub fn len(&self) -> usize {
        self.tat.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_burst_of_the_hourly_allowance_then_one_per_interval() {
        let b = HourlyBudget::new(20);
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        for _ in 0..20 {
            b.spend(ip("192.0.2.1"), t0).unwrap();
        }
        let wait = b.spend(ip("192.0.2.1"), t0).unwrap_err();
        assert_eq!(wait, Duration::minutes(3), "one more every 3 minutes");
        // Another address is not affected, nor is the refused one charged.
        b.spend(ip("192.0.2.2"), t0).unwrap();
        assert!(b.spend(ip("192.0.2.1"), t0 + Duration::minutes(2)).is_err());
        b.spend(ip("192.0.2.1"), t0 + Duration::minutes(3)).unwrap();
        assert!(b.spend(ip("192.0.2.1"), t0 + Duration::minutes(3)).is_err());
        // An hour later the whole allowance is back.
        let later = t0 + Duration::hours(2);
        b.prune(later);
        assert!(b.is_empty());
        for _ in 0..20 {
            b.spend(ip("192.0.2.1"), later).unwrap();
        }
    }

    #[test]
    fn an_ipv6_subscriber_is_one_address_and_zero_means_unlimited() {
        let b = HourlyBudget::new(2);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        b.spend(ip("2001:db8:1:2::1"), t0).unwrap();
        b.spend(ip("2001:db8:1:2::ffff"), t0).unwrap();
        assert!(b.spend(ip("2001:db8:1:2:aaaa::9"), t0).is_err());
        let free = HourlyBudget::new(0);
        for _ in 0..1000 {
            free.spend(ip("192.0.2.1"), t0).unwrap();
        }
        assert!(free.is_empty());
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_addresses() {
        let b = HourlyBudget::new(20);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        for i in 0..(MAX_ADDRESSES as u32 + 5000) {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            b.spend(Some(IpAddr::V4(a)), t0).unwrap();
        }
        assert!(b.len() <= MAX_ADDRESSES);
    }
}
