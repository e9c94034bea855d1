//! Whose browser storage entry is whose. The fleet results (sessionStorage) belong to one
//! signed-in account of one tenant; the call-budget history (localStorage) to one application
//! registration of one tenant, because that is what Defender's rate limit counts. The keys
//! name their owner, so the next person at a shared workstation never reads the previous
//! user's inventory, and one tenant's calls never fill another's budget.
//!
//! ```
//! use kbwatch_core::fleet::storage_keys::StorageScope;
//!
//! let alice = StorageScope::new(Some("Contoso-Tenant"), Some("Alice@contoso.com"), Some("app-1"));
//! let bob = StorageScope::new(Some("contoso-tenant"), Some("bob@contoso.com"), Some("app-1"));
//! assert_ne!(alice.fleet_cache_key(), bob.fleet_cache_key());
//! assert_eq!(alice.budget_key(), bob.budget_key()); // one tenant application, one budget
//! ```

use url::form_urlencoded::byte_serialize;

/// What every fleet cache key starts with (the unkeyed entry of earlier versions is exactly it).
pub const FLEET_CACHE_PREFIX: &str = "kbwatch.fleet.v1";
const BUDGET_PREFIX: &str = "kbwatch.budget.v1";
const CLASS_BUDGET_PREFIX: &str = "kbwatch.budget.classes.v1";
/// An identifier longer than this is cut: keys stay short whatever a token claims.
const MAX_PART_CHARS: usize = 128;
/// Stands for a part the sign-in does not tell (a token without `tid`, say).
const UNKNOWN: &str = "unknown";

/// The tenant, account and application the data on screen is read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageScope {
    tenant: String,
    account: String,
    client: String,
}

impl StorageScope {
    /// Identifiers are compared case-insensitively (GUIDs, user names); a missing one is
    /// "unknown", so two sign-ins that tell nothing share nothing with those that do.
    pub fn new(tenant: Option<&str>, account: Option<&str>, client: Option<&str>) -> Self {
        Self {
            tenant: part(tenant),
            account: part(account),
            client: part(client),
        }
    }

    /// The demo mode's one user.
    pub fn demo() -> Self {
        Self::new(Some("demo"), Some("demo"), Some("demo"))
    }

    /// sessionStorage key of this account's fleet results.
    pub fn fleet_cache_key(&self) -> String {
        format!("{FLEET_CACHE_PREFIX}:{}:{}", self.tenant, self.account)
    }

    /// localStorage key of this tenant application's call history.
    pub fn budget_key(&self) -> String {
        format!("{BUDGET_PREFIX}:{}:{}", self.tenant, self.client)
    }

    /// localStorage key of the per-class budgets nested in [`Self::budget_key`]'s.
    pub fn class_budget_key(&self) -> String {
        format!("{CLASS_BUDGET_PREFIX}:{}:{}", self.tenant, self.client)
    }
}

/// Of the storage `keys`, the fleet caches that are not `current`'s: someone else's results,
/// or the unkeyed entry of an earlier version. They are removed when the current account's
/// cache is read.
pub fn other_fleet_caches<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    current: &StorageScope,
) -> Vec<&'a str> {
    let own = current.fleet_cache_key();
    keys.into_iter()
        .filter(|k| is_fleet_cache_key(k) && *k != own)
        .collect()
}

/// Whether `key` is a fleet cache, of anyone.
pub fn is_fleet_cache_key(key: &str) -> bool {
    key.strip_prefix(FLEET_CACHE_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
}

/// One identifier as a key part: lower case, at most [`MAX_PART_CHARS`] characters, and
/// percent-encoded, so no value can contain the `:` that separates the parts.
fn part(value: Option<&str>) -> String {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    let lower: String = value
        .unwrap_or(UNKNOWN)
        .chars()
        .take(MAX_PART_CHARS)
        .flat_map(char::to_lowercase)
        .collect();
    byte_serialize(lower.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_account_has_its_own_cache_and_each_tenant_application_its_own_budget() {
        let alice = StorageScope::new(Some("t1"), Some("alice@contoso.com"), Some("app"));
        let bob = StorageScope::new(Some("t1"), Some("bob@contoso.com"), Some("app"));
        let other_app = StorageScope::new(Some("t1"), Some("alice@contoso.com"), Some("app-2"));
        let other_tenant = StorageScope::new(Some("t2"), Some("alice@contoso.com"), Some("app"));
        assert_ne!(alice.fleet_cache_key(), bob.fleet_cache_key());
        assert_ne!(alice.fleet_cache_key(), other_tenant.fleet_cache_key());
        assert_eq!(alice.fleet_cache_key(), other_app.fleet_cache_key());
        assert_eq!(alice.budget_key(), bob.budget_key());
        assert_ne!(alice.budget_key(), other_app.budget_key());
        assert_ne!(alice.budget_key(), other_tenant.budget_key());
        assert_ne!(alice.budget_key(), alice.class_budget_key());
    }

    #[test]
    fn identifiers_compare_without_case_or_surrounding_space() {
        let a = StorageScope::new(Some(" T1 "), Some("Alice@Contoso.com"), Some("APP"));
        let b = StorageScope::new(Some("t1"), Some("alice@contoso.com"), Some("app"));
        assert_eq!(a, b);
        assert_eq!(
            StorageScope::new(None, Some(""), None),
            StorageScope::new(Some("unknown"), Some("unknown"), Some("unknown"))
        );
    }

    #[test]
    fn a_separator_in_a_claim_cannot_make_two_owners_share_a_key() {
        let a = StorageScope::new(Some("t1:x"), Some("y"), None);
        let b = StorageScope::new(Some("t1"), Some("x:y"), None);
        assert_ne!(a.fleet_cache_key(), b.fleet_cache_key());
        assert_eq!(a.fleet_cache_key().matches(':').count(), 2);
    }

    #[test]
    fn other_caches_are_everyone_elses_and_the_unkeyed_one() {
        let me = StorageScope::new(Some("t"), Some("me"), Some("c"));
        let someone = StorageScope::new(Some("t"), Some("someone"), Some("c"));
        let (mine, theirs) = (me.fleet_cache_key(), someone.fleet_cache_key());
        let keys = [
            mine.as_str(),
            theirs.as_str(),
            FLEET_CACHE_PREFIX,
            "kbwatch.fleet.v10",
            "kbwatch.budget.v1:t:c",
            "msal.token",
        ];
        assert_eq!(
            other_fleet_caches(keys, &me),
            vec![theirs.as_str(), FLEET_CACHE_PREFIX]
        );
    }

    proptest! {
        #[test]
        fn keys_are_bounded_and_distinct_per_owner(
            t in "\\PC{0,200}", a in "\\PC{0,200}", b in "\\PC{0,200}",
        ) {
            let first = StorageScope::new(Some(&t), Some(&a), Some("c"));
            let second = StorageScope::new(Some(&t), Some(&b), Some("c"));
            let key = first.fleet_cache_key();
            prop_assert!(key.len() <= FLEET_CACHE_PREFIX.len() + 2 + 2 * 12 * MAX_PART_CHARS);
            prop_assert!(is_fleet_cache_key(&key));
            prop_assert_eq!(key.matches(':').count(), 2);
            let same = first.account == second.account;
            prop_assert_eq!(same, key == second.fleet_cache_key());
        }
    }
}
