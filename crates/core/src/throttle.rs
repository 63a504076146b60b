//! Sign-in throttling: how many wrong passwords anyone gets to try.
//!
//! Counting every attempt per socket address (what this replaced) locked out
//! whole offices behind one NAT and let a ten-a-minute script lock out
//! everyone else; keying a limiter on the raw email let junk addresses grow
//! it without bound. So, per DESIGN §10 and ASVS V2.2.1:
//!
//! - Only **failures** count. An attempt is charged when it starts (so a
//!   burst of concurrent guesses cannot all slip past the check before the
//!   first failure is recorded) and refunded when the password turns out to
//!   be right, or was never checked.
//! - Three budgets: per (account, address), per address across accounts
//!   (password spraying), and per account across addresses (a distributed
//!   guesser). The first two allow a burst per minute and then escalating
//!   waits (1 min, doubling, at most 15 min, as Keycloak's defaults), which
//!   a quiet hour or, for the first, a success forgets. The third is a hard
//!   cap of failures per hour (100, ASVS) for addresses the account has not
//!   signed in from; addresses with a recent success are exempt, so an
//!   attacker elsewhere cannot lock the owner out. One address alone cannot
//!   reach the cap: the escalating waits hold it to well under 100 an hour.
//! - Keys are fixed-size salted hashes of an address already validated
//!   (an email of at most 254 bytes, an IP grouped by /64 for IPv6), never
//!   the raw input; nothing is stored for a refused attempt; idle keys are
//!   pruned and every table has a hard cap, so memory stays flat under any
//!   flood.
//!
//! The state is per process. Behind a load balancer with several instances
//! each enforces its own budgets, so the totals multiply by the instance
//! count (still bounded); the account cap becomes `instances × 100`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::secret::fill_random;

/// The limits. [`ThrottlePolicy::default`] is what the server uses unless
/// configured otherwise.
#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Failures one address may make on one account in a minute before the
    /// waits begin (`GATEHOUSE_LOGIN_ATTEMPTS_PER_MINUTE`).
    pub per_account_and_address: u32,
    /// Failures one address may make across all accounts in a minute
    /// before the waits begin.
    pub per_address: u32,
    /// Failures an account may take in an hour from addresses it has not
    /// recently signed in from (ASVS V2.2.1: at most 100).
    pub per_account_per_hour: u32,
    /// The first wait once a budget is spent; each further failure doubles it.
    pub first_wait: Duration,
    /// The longest wait.
    pub longest_wait: Duration,
    /// Quiet time after which a key's failures are forgotten.
    pub forget_after: Duration,
    /// How long an address an account signed in from stays exempt from the
    /// account's hourly cap.
    pub remember_addresses_for: Duration,
    /// Most keys each table holds; beyond that the least recently active
    /// are dropped.
    pub max_keys: usize,
}

impl ThrottlePolicy {
    /// The defaults, with `per_minute` failures per (account, address).
    pub fn with_per_minute(per_minute: u32) -> Self {
        let per_minute = per_minute.max(1);
        Self {
            per_account_and_address: per_minute,
            per_address: per_minute.saturating_mul(5),
            ..Self::default()
        }
    }
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            per_account_and_address: 10,
            per_address: 50,
            per_account_per_hour: 100,
            first_wait: Duration::minutes(1),
            longest_wait: Duration::minutes(15),
            forget_after: Duration::hours(1),
            remember_addresses_for: Duration::days(30),
            max_keys: 16_384,
        }
    }
}

/// A fixed-size, salted digest standing for an account or an address.
type Key = [u8; 16];

/// How long to wait before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// At least this long (whole seconds, at least one).
    pub retry_after: Duration,
}

impl Throttled {
    /// Whole seconds to put in `Retry-After`, rounded up.
    pub fn retry_after_secs(&self) -> u64 {
        let ms = self.retry_after.whole_milliseconds().max(0);
        u64::try_from(((ms + 999) / 1000).max(1)).unwrap_or(1)
    }
}

/// One budget of the burst-then-escalate kind.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// GCRA's theoretical arrival time: each failure pushes it on by
    /// `60 s / per_minute`; a budget is spent when one more would put it
    /// over a minute ahead.
    tat: OffsetDateTime,
    /// Failures since the budget was spent; each one doubles the wait.
    strikes: u32,
    /// No attempt is checked before this.
    locked_until: OffsetDateTime,
    /// The last failure, for forgetting and eviction.
    last: OffsetDateTime,
}

/// What charging a [`Budget`] changed, so a refund can take it back.
#[derive(Debug, Clone, Copy)]
struct BudgetCharge {
    interval: Duration,
    /// `Some` if the charge struck: the strike count it set and the lock it
    /// replaced.
    struck: Option<(u32, OffsetDateTime)>,
}

impl Budget {
    fn new(now: OffsetDateTime) -> Self {
        Self {
            tat: now,
            strikes: 0,
            locked_until: OffsetDateTime::UNIX_EPOCH,
            last: now,
        }
    }

    fn wait(&self, now: OffsetDateTime) -> Option<Duration> {
        (self.locked_until > now).then(|| self.locked_until - now)
    }

    fn charge(&mut self, now: OffsetDateTime, per_minute: u32, p: &ThrottlePolicy) -> BudgetCharge {
        if now - self.last >= p.forget_after {
            self.strikes = 0;
        }
        let interval = Duration::minutes(1) / per_minute.max(1);
        self.tat = self.tat.max(now) + interval;
        self.last = now;
        // Spent when the next failure, were it now, would not conform:
        // GCRA's burst tolerance is `per_minute - 1` intervals.
        let struck = if self.strikes > 0 || self.tat - now + interval > Duration::minutes(1) {
            let previous = self.locked_until;
            self.strikes = self.strikes.saturating_add(1);
            let doublings = self.strikes.saturating_sub(1).min(16);
            let wait = (p.first_wait * 2_i32.pow(doublings)).min(p.longest_wait);
            self.locked_until = self.locked_until.max(now + wait);
            Some((self.strikes, previous))
        } else {
            None
        };
        BudgetCharge { interval, struck }
    }

    fn refund(&mut self, charge: BudgetCharge) {
        self.tat -= charge.interval;
        // Undo the strike only if no failure struck since; otherwise that
        // later failure's wait stands.
        if let Some((strikes, previous)) = charge.struck
            && self.strikes == strikes
        {
            self.strikes -= 1;
            self.locked_until = previous;
        }
    }

    fn idle(&self, now: OffsetDateTime, p: &ThrottlePolicy) -> bool {
        now - self.last >= p.forget_after && self.locked_until <= now
    }
}

/// Width of one slot of an account's hourly failure count.
const SLOT: Duration = Duration::minutes(5);
/// Slots in an hour.
const SLOTS: usize = 12;
/// Addresses remembered per account.
const KNOWN_ADDRESSES: usize = 4;

/// An account's failures over the last hour and where it signed in from.
#[derive(Debug, Clone)]
struct AccountState {
    /// Failures per five-minute slot; `slots[i]` counts slot `epoch - i`.
    slots: [u32; SLOTS],
    /// The slot number (`unix time / 5 min`) of `slots[0]`.
    epoch: i64,
    /// Address groups with a recent success, and when.
    known: Vec<(Key, OffsetDateTime)>,
    last: OffsetDateTime,
}

fn slot_of(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(SLOT.whole_seconds())
}

impl AccountState {
    fn new(now: OffsetDateTime) -> Self {
        Self {
            slots: [0; SLOTS],
            epoch: slot_of(now),
            known: Vec::new(),
            last: now,
        }
    }

    /// Moves the window to `now`, dropping slots older than an hour.
    fn advance(&mut self, now: OffsetDateTime) {
        let current = slot_of(now);
        let shift = current - self.epoch;
        if shift <= 0 {
            return;
        }
        let shift = usize::try_from(shift).unwrap_or(SLOTS).min(SLOTS);
        self.slots.rotate_right(shift);
        for s in self.slots.iter_mut().take(shift) {
            *s = 0;
        }
        self.epoch = current;
    }

    fn failures(&self) -> u32 {
        self.slots.iter().sum()
    }

    /// How long until the count drops below `cap`, if it is at it.
    fn wait(&mut self, now: OffsetDateTime, cap: u32) -> Option<Duration> {
        self.advance(now);
        let mut total = self.failures();
        if total < cap {
            return None;
        }
        // Slots leave the window oldest first.
        for age in (0..SLOTS).rev() {
            total -= self.slots[age];
            if total < cap {
                let leaves = (self.epoch - age as i64 + SLOTS as i64) * SLOT.whole_seconds();
                let at = OffsetDateTime::from_unix_timestamp(leaves).unwrap_or(now);
                return Some((at - now).max(Duration::SECOND));
            }
        }
        Some(SLOT)
    }

    fn knows(&self, addr: &Key, now: OffsetDateTime, p: &ThrottlePolicy) -> bool {
        self.known
            .iter()
            .any(|(k, at)| k == addr && now - *at < p.remember_addresses_for)
    }

    fn remember(&mut self, addr: Key, now: OffsetDateTime) {
        self.known.retain(|(k, _)| *k != addr);
        if self.known.len() >= KNOWN_ADDRESSES {
            self.known.sort_by_key(|(_, at)| std::cmp::Reverse(*at));
            self.known.truncate(KNOWN_ADDRESSES - 1);
        }
        self.known.push((addr, now));
        self.last = self.last.max(now);
    }

    fn charge(&mut self, now: OffsetDateTime) -> i64 {
        self.advance(now);
        self.slots[0] = self.slots[0].saturating_add(1);
        self.last = now;
        self.epoch
    }

    fn refund(&mut self, slot: i64, now: OffsetDateTime) {
        self.advance(now);
        if let Ok(age) = usize::try_from(self.epoch - slot)
            && let Some(s) = self.slots.get_mut(age)
        {
            *s = s.saturating_sub(1);
        }
    }

    fn idle(&self, now: OffsetDateTime, p: &ThrottlePolicy) -> bool {
        let quiet = now - self.last >= Duration::hours(1) + SLOT;
        quiet
            && self
                .known
                .iter()
                .all(|(_, at)| now - *at >= p.remember_addresses_for)
    }
}

#[derive(Debug, Default)]
struct Tables {
    pairs: HashMap<Key, Budget>,
    addresses: HashMap<Key, Budget>,
    accounts: HashMap<Key, AccountState>,
}

/// An attempt that passed the throttle and was charged as a failure; settle
/// it with [`SignInThrottle::succeeded`] or [`SignInThrottle::cancelled`],
/// or drop it to let the failure stand.
#[derive(Debug)]
#[must_use = "an attempt is a failure unless settled otherwise"]
pub struct Attempt {
    account: Key,
    address: Key,
    pair: Key,
    pair_charge: BudgetCharge,
    address_charge: BudgetCharge,
    account_slot: i64,
}

/// The sign-in throttle: the three budgets, in memory, bounded.
pub struct SignInThrottle {
    policy: ThrottlePolicy,
    salt: [u8; 16],
    tables: Mutex<Tables>,
}

impl std::fmt::Debug for SignInThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInThrottle")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The group an address is throttled as: itself for IPv4 (including
/// IPv4-mapped IPv6), its /64 for IPv6, since one subscriber usually holds
/// a whole /64 and could otherwise rotate through 2^64 addresses.
pub fn address_group(ip: Option<IpAddr>) -> [u8; 17] {
    let mut out = [0u8; 17];
    match ip.map(|ip| ip.to_canonical()) {
        None => {}
        Some(IpAddr::V4(v4)) => {
            out[0] = 4;
            out[1..5].copy_from_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            out[0] = 6;
            out[1..9].copy_from_slice(&v6.octets()[..8]);
        }
    }
    out
}

impl SignInThrottle {
    /// A throttle enforcing `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        let mut salt = [0u8; 16];
        fill_random(&mut salt);
        Self {
            policy,
            salt,
            tables: Mutex::new(Tables::default()),
        }
    }

    /// The limits in force.
    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    fn key(&self, kind: u8, parts: &[&[u8]]) -> Key {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.salt);
        ctx.update(&[kind]);
        for p in parts {
            ctx.update(&(p.len() as u64).to_be_bytes());
            ctx.update(p);
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&ctx.finish().as_ref()[..16]);
        out
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks every budget for `account` (a normalized, validated email)
    /// signing in from `ip`, and if none is spent, charges the attempt to
    /// all three as a failure.
    ///
    /// # Errors
    /// [`Throttled`] with the longest wait among the spent budgets; nothing
    /// is recorded for a refused attempt.
    pub fn begin(
        &self,
        account: &str,
        ip: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<Attempt, Throttled> {
        let group = address_group(ip);
        let account = self.key(b'u', &[account.as_bytes()]);
        let address = self.key(b'a', &[&group]);
        let pair = self.key(b'p', &[&account, &address]);
        let p = &self.policy;
        let mut t = self.tables();
        let mut wait = Duration::ZERO;
        if let Some(w) = t.pairs.get(&pair).and_then(|b| b.wait(now)) {
            wait = wait.max(w);
        }
        if let Some(w) = t.addresses.get(&address).and_then(|b| b.wait(now)) {
            wait = wait.max(w);
        }
        if let Some(a) = t.accounts.get_mut(&account)
            && !a.knows(&address, now, p)
            && let Some(w) = a.wait(now, p.per_account_per_hour)
        {
            wait = wait.max(w);
        }
        if wait.is_positive() {
            return Err(Throttled { retry_after: wait });
        }
        let pair_charge = t
            .pairs
            .entry(pair)
            .or_insert_with(|| Budget::new(now))
            .charge(now, p.per_account_and_address, p);
        let address_charge = t
            .addresses
            .entry(address)
            .or_insert_with(|| Budget::new(now))
            .charge(now, p.per_address, p);
        let account_slot = t
            .accounts
            .entry(account)
            .or_insert_with(|| AccountState::new(now))
            .charge(now);
        self.bound(&mut t, now);
        Ok(Attempt {
            account,
            address,
            pair,
            pair_charge,
            address_charge,
            account_slot,
        })
    }

    /// The password was right: the attempt was no failure. Forgets the
    /// (account, address) budget and remembers the address for the account.
    pub fn succeeded(&self, attempt: Attempt, now: OffsetDateTime) {
        let mut t = self.tables();
        t.pairs.remove(&attempt.pair);
        if let Some(b) = t.addresses.get_mut(&attempt.address) {
            b.refund(attempt.address_charge);
        }
        if let Some(a) = t.accounts.get_mut(&attempt.account) {
            a.refund(attempt.account_slot, now);
            a.remember(attempt.address, now);
        }
    }

    /// The password was never checked (the hashing queue was full, the
    /// store failed): take the charge back.
    pub fn cancelled(&self, attempt: Attempt, now: OffsetDateTime) {
        let mut t = self.tables();
        if let Some(b) = t.pairs.get_mut(&attempt.pair) {
            b.refund(attempt.pair_charge);
        }
        if let Some(b) = t.addresses.get_mut(&attempt.address) {
            b.refund(attempt.address_charge);
        }
        if let Some(a) = t.accounts.get_mut(&attempt.account) {
            a.refund(attempt.account_slot, now);
        }
    }

    /// Drops every key with nothing left to enforce. Called on a timer, and
    /// whenever a table reaches its cap.
    pub fn prune(&self, now: OffsetDateTime) {
        let mut t = self.tables();
        Self::prune_idle(&mut t, now, &self.policy);
    }

    fn prune_idle(t: &mut Tables, now: OffsetDateTime, p: &ThrottlePolicy) {
        t.pairs.retain(|_, b| !b.idle(now, p));
        t.addresses.retain(|_, b| !b.idle(now, p));
        t.accounts.retain(|_, a| !a.idle(now, p));
        shrink(&mut t.pairs);
        shrink(&mut t.addresses);
        shrink(&mut t.accounts);
    }

    /// Keeps every table under its cap: idle keys go first, then the least
    /// recently active, down to three quarters of the cap so the sweep does
    /// not run on every insert.
    fn bound(&self, t: &mut Tables, now: OffsetDateTime) {
        let p = &self.policy;
        let full = |n: usize| n > p.max_keys;
        if !(full(t.pairs.len()) || full(t.addresses.len()) || full(t.accounts.len())) {
            return;
        }
        Self::prune_idle(t, now, p);
        let keep = p.max_keys - p.max_keys / 4;
        evict_oldest(&mut t.pairs, keep, |b| b.last);
        evict_oldest(&mut t.addresses, keep, |b| b.last);
        evict_oldest(&mut t.accounts, keep, |a| a.last);
    }

    /// Keys held, across the three tables.
    pub fn len(&self) -> usize {
        let t = self.tables();
        t.pairs.len() + t.addresses.len() + t.accounts.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn shrink<V>(m: &mut HashMap<Key, V>) {
    if m.capacity() > 64 && m.len() < m.capacity() / 4 {
        m.shrink_to_fit();
    }
}

fn evict_oldest<V>(m: &mut HashMap<Key, V>, keep: usize, last: impl Fn(&V) -> OffsetDateTime) {
    if m.len() <= keep {
        return;
    }
    let mut ages: Vec<OffsetDateTime> = m.values().map(&last).collect();
    let cut = m.len() - keep;
    ages.select_nth_unstable(cut - 1);
    let threshold = ages[cut - 1];
    let mut excess = cut;
    m.retain(|_, v| {
        if excess > 0 && last(v) <= threshold {
            excess -= 1;
            false
        } else {
            true
        }
    });
    shrink(m);
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));
    const THERE: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7)));

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    fn ip(n: u32) -> Option<IpAddr> {
        Some(IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + n)))
    }

    /// Fails `n` times in a row at `now`; returns how many were let through.
    fn fail(
        th: &SignInThrottle,
        who: &str,
        from: Option<IpAddr>,
        n: u32,
        now: OffsetDateTime,
    ) -> u32 {
        (0..n).filter(|_| th.begin(who, from, now).is_ok()).count() as u32
    }

    #[test]
    fn the_budget_allows_a_burst_then_waits_that_double_up_to_fifteen_minutes() {
        let th = SignInThrottle::new(ThrottlePolicy::with_per_minute(5));
        let mut now = t0();
        assert_eq!(fail(&th, "a@example.com", HERE, 20, now), 5);
        let w = th.begin("a@example.com", HERE, now).unwrap_err();
        assert_eq!(w.retry_after, Duration::minutes(1));
        let mut waits = Vec::new();
        for _ in 0..6 {
            now += th
                .begin("a@example.com", HERE, now)
                .unwrap_err()
                .retry_after;
            let _ = th.begin("a@example.com", HERE, now).map(drop);
            waits.push(
                th.begin("a@example.com", HERE, now)
                    .unwrap_err()
                    .retry_after,
            );
        }
        let minutes: Vec<i64> = waits.iter().map(|w| w.whole_minutes()).collect();
        assert_eq!(minutes, [2, 4, 8, 15, 15, 15]);
        // A quiet hour after the last wait forgets it all.
        now += Duration::minutes(15) + Duration::hours(1);
        assert_eq!(fail(&th, "a@example.com", HERE, 20, now), 5);
    }

    #[test]
    fn successes_are_not_failures_and_reset_the_pair() {
        let th = SignInThrottle::new(ThrottlePolicy::with_per_minute(3));
        let now = t0();
        for _ in 0..50 {
            let a = th.begin("a@example.com", HERE, now).unwrap();
            th.succeeded(a, now);
        }
        assert_eq!(fail(&th, "a@example.com", HERE, 2, now), 2);
        let a = th.begin("a@example.com", HERE, now).unwrap();
        th.succeeded(a, now);
        assert_eq!(fail(&th, "a@example.com", HERE, 10, now), 3);
    }

    #[test]
    fn cancelled_attempts_are_refunded_everywhere() {
        let th = SignInThrottle::new(ThrottlePolicy::with_per_minute(2));
        let now = t0();
        for _ in 0..100 {
            let a = th.begin("a@example.com", HERE, now).unwrap();
            th.cancelled(a, now);
        }
        assert_eq!(fail(&th, "a@example.com", HERE, 5, now), 2);
    }

    #[test]
    fn concurrent_attempts_cannot_exceed_the_budget() {
        let th = SignInThrottle::new(ThrottlePolicy::with_per_minute(4));
        let now = t0();
        // Started before any finished: each is charged at once.
        let pending: Vec<Attempt> = (0..50)
            .filter_map(|_| th.begin("a@example.com", HERE, now).ok())
            .collect();
        assert_eq!(pending.len(), 4);
    }

    #[test]
    fn one_address_cannot_lock_the_owner_out_elsewhere() {
        let p = ThrottlePolicy::with_per_minute(10);
        let th = SignInThrottle::new(p.clone());
        let mut now = t0();
        // The attacker at HERE keeps guessing for two hours, as fast as the
        // waits allow.
        let end = now + Duration::hours(2);
        let mut guesses = 0;
        while now < end {
            match th.begin("victim@example.com", HERE, now) {
                Ok(_failed) => guesses += 1,
                Err(w) => now += w.retry_after,
            }
        }
        assert!(
            guesses < 2 * p.per_account_per_hour / 3,
            "{guesses} guesses"
        );
        // The owner, at an address never used before, gets in.
        let a = th.begin("victim@example.com", THERE, now).unwrap();
        th.succeeded(a, now);
    }

    #[test]
    fn many_addresses_share_the_accounts_hourly_cap_but_known_addresses_do_not() {
        let th = SignInThrottle::new(ThrottlePolicy::with_per_minute(10));
        let now = t0();
        let owner = th.begin("victim@example.com", THERE, now).unwrap();
        th.succeeded(owner, now);
        let mut guesses = 0;
        for n in 0..500 {
            guesses += fail(&th, "victim@example.com", ip(n), 3, now);
        }
        assert_eq!(guesses, 100);
        let w = th.begin("victim@example.com", ip(9999), now).unwrap_err();
        assert!(w.retry_after > Duration::minutes(55), "{w:?}");
        // The owner's address is exempt from the cap.
        let a = th.begin("victim@example.com", THERE, now).unwrap();
        th.succeeded(a, now);
        // An hour later the cap has room again.
        assert!(
            th.begin("victim@example.com", ip(9999), now + Duration::minutes(66))
                .is_ok()
        );
    }

    #[test]
    fn one_address_spraying_many_accounts_is_slowed() {
        let th = SignInThrottle::new(ThrottlePolicy::with_per_minute(10));
        let now = t0();
        let through = (0..1000)
            .filter(|n| th.begin(&format!("user{n}@example.com"), HERE, now).is_ok())
            .count();
        assert_eq!(through, 50);
        // Another address is unaffected.
        assert!(th.begin("user1@example.com", THERE, now).is_ok());
    }

    #[test]
    fn ipv6_addresses_are_grouped_by_slash_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_group(Some(a)), address_group(Some(b)));
        assert_ne!(address_group(Some(a)), address_group(Some(c)));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_group(Some(mapped)), address_group(HERE));
        let th = SignInThrottle::new(ThrottlePolicy::with_per_minute(3));
        let now = t0();
        let mut through = 0;
        for n in 0..20u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, n, n, n, n));
            through += fail(&th, "a@example.com", Some(ip), 1, now);
        }
        assert_eq!(through, 3);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_distinct_keys() {
        let p = ThrottlePolicy {
            max_keys: 1000,
            per_address: 1_000_000,
            ..ThrottlePolicy::with_per_minute(10)
        };
        let th = SignInThrottle::new(p);
        let mut now = t0();
        for n in 0..20_000u32 {
            let _ = th.begin(&format!("u{n}@example.com"), ip(n % 7000), now);
            now += Duration::milliseconds(10);
        }
        assert!(th.len() <= 3 * 1000, "{} keys", th.len());
        // Everything is idle two hours later, and pruning empties the tables.
        th.prune(now + Duration::hours(2));
        assert!(th.is_empty());
    }

    #[test]
    fn refused_attempts_store_nothing() {
        let th = SignInThrottle::new(ThrottlePolicy::with_per_minute(1));
        let now = t0();
        assert_eq!(fail(&th, "a@example.com", HERE, 1, now), 1);
        let before = th.len();
        for _ in 0..1000 {
            assert!(th.begin("a@example.com", HERE, now).is_err());
        }
        assert_eq!(th.len(), before);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let t = Throttled {
            retry_after: Duration::milliseconds(1500),
        };
        assert_eq!(t.retry_after_secs(), 2);
        let t = Throttled {
            retry_after: Duration::ZERO,
        };
        assert_eq!(t.retry_after_secs(), 1);
    }
}
