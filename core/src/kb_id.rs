//! A validated KB number, for the places where one goes into a request (`fixingKbId eq '…'`)
//! or keys a table: [`KbId`].

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::kb::{kb_number, MissingKb};

/// A KB number: 1 to 8 ASCII digits, without the "KB" prefix ("4540673"). Parsed by
/// [`kb_number`], so "KB4540673", "kb4540673" and "4540673" are the same KB; anything else
/// (an advisory such as "ADV190023", a list, a vendor's update name) is not a `KbId`.
///
/// Ordered by number ("9" before "10"), then by text, so tables sort the way people read them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KbId(String);

impl KbId {
    /// The KB number in `input`, or `None` when it is not one (see [`kb_number`]).
    pub fn parse(input: &str) -> Option<Self> {
        kb_number(input.trim()).map(|digits| Self(digits.to_owned()))
    }

    /// The digits, as the API writes the id ("4540673"): ready for a query or a map key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// "KB4540673".
    pub fn label(&self) -> String {
        format!("KB{}", self.0)
    }

    /// The Microsoft Update Catalog search for this KB, the same link the per-device
    /// `getmissingkbs` answer carries (`https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673`).
    pub fn catalog_url(&self) -> String {
        // Built by `MissingKb::catalog_url`, the one place that knows the catalog's address;
        // a KbId is always a KB number, so that never falls back to `None`.
        MissingKb {
            id: self.0.clone(),
            name: None,
            products: Vec::new(),
            url: None,
            machine_missed_on: None,
            cve_addressed: None,
        }
        .catalog_url()
        .unwrap_or_default()
    }

    fn numeric(&self) -> u32 {
        // At most 8 digits: always fits.
        self.0.parse().unwrap_or(u32::MAX)
    }
}

impl Ord for KbId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numeric()
            .cmp(&other.numeric())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for KbId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for KbId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for KbId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
            .ok_or_else(|| format!("not a KB number: {}", crate::quote::quoted(&value)))
    }
}

impl From<KbId> for String {
    fn from(id: KbId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_and_rejects_non_kbs() {
        let id = KbId::parse(" KB4540673 ").expect("a KB");
        assert_eq!(id.as_str(), "4540673");
        assert_eq!(id.label(), "KB4540673");
        assert_eq!(KbId::parse("kb4540673"), Some(id.clone()));
        assert_eq!(KbId::parse("4540673"), Some(id.clone()));
        for not_kb in ["ADV190023", "", "KB", "123456789", "45 40", "4540673'"] {
            assert_eq!(KbId::parse(not_kb), None, "{not_kb}");
        }
        assert_eq!(
            id.catalog_url(),
            "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673"
        );
    }

    #[test]
    fn orders_by_number() {
        let mut ids: Vec<KbId> = ["10", "9", "4540673", "09"]
            .iter()
            .filter_map(|s| KbId::parse(s))
            .collect();
        ids.sort();
        let order: Vec<&str> = ids.iter().map(KbId::as_str).collect();
        assert_eq!(order, ["09", "9", "10", "4540673"]);
    }

    #[test]
    fn serde_round_trips_and_refuses_junk() {
        let id: KbId = serde_json::from_str("\"KB5044285\"").expect("a KB");
        assert_eq!(serde_json::to_string(&id).expect("json"), "\"5044285\"");
        assert!(serde_json::from_str::<KbId>("\"ADV1\"").is_err());
    }
}
