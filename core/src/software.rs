//! The software inventory (`GET /api/Software`) and the identifier of one product in it.
//!
//! The per-product path of the fleet overview lists the Microsoft products here and asks
//! `GET /api/Software/{id}/getmissingkbs` for each: a few dozen calls for any tenant size.
//!
//! ```
//! use kbwatch_core::software::{Software, SoftwareId};
//! use kbwatch_core::ODataPage;
//!
//! let body = r#"{"value": [{"id": "microsoft-_-edge", "name": "edge", "vendor": "microsoft",
//!     "weaknesses": 467, "publicExploit": true, "activeAlert": false,
//!     "exposedMachines": 172, "impactScore": 2.39947438}]}"#;
//! let page = ODataPage::<Software>::parse(body).unwrap();
//! assert_eq!(page.items[0].id, SoftwareId::parse("microsoft-_-edge").unwrap());
//! assert!(page.items[0].is_microsoft());
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::lenient;

/// A software ID as `GET /api/Software` gives it (`microsoft-_-edge`: vendor, `-_-`, product).
///
/// It becomes a path segment (`/api/Software/{id}/getmissingkbs`). `Endpoints` percent-encodes
/// segments, but some text changes the path even so — `.` and `..` are dropped as segments,
/// `%` would be read as an escape by people and proxies — so only printable ASCII without
/// `/ \ % ? #`, not made of dots only, at most [`SoftwareId::MAX_LEN`] long, is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SoftwareId(String);

/// Why a text is not a [`SoftwareId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoftwareIdError {
    #[error("empty software ID")]
    Empty,
    #[error("software ID is longer than {} characters", SoftwareId::MAX_LEN)]
    TooLong,
    #[error("software ID contains {0:?}, which cannot go into a request path")]
    InvalidCharacter(char),
    #[error("software ID is made of dots only, which would change the request path")]
    PathTrick,
}

impl SoftwareId {
    /// The documented IDs are vendor and product names joined by `-_-`; 256 leaves room for
    /// long names while bounding what goes into a URL.
    pub const MAX_LEN: usize = 256;

    /// Trims, then validates (see the type's documentation). Case is kept: the API's IDs are
    /// lowercase, and another spelling is the API's to judge.
    pub fn parse(input: &str) -> Result<Self, SoftwareIdError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(SoftwareIdError::Empty);
        }
        if let Some(bad) = input.chars().find(|&c| {
            !(c.is_ascii_graphic() || c == ' ') || matches!(c, '/' | '\\' | '%' | '?' | '#')
        }) {
            return Err(SoftwareIdError::InvalidCharacter(bad));
        }
        // All ASCII from here: bytes are characters.
        if input.len() > Self::MAX_LEN {
            return Err(SoftwareIdError::TooLong);
        }
        if input.bytes().all(|b| b == b'.') {
            return Err(SoftwareIdError::PathTrick);
        }
        Ok(Self(input.to_owned()))
    }

    /// The text as it goes into a path segment (already validated).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SoftwareId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SoftwareId {
    type Error = SoftwareIdError;

    fn try_from(value: String) -> Result<Self, SoftwareIdError> {
        Self::parse(&value)
    }
}

impl From<SoftwareId> for String {
    fn from(id: SoftwareId) -> String {
        id.0
    }
}

/// One product of `GET /api/Software`. Only `id` is required (without it the product cannot be
/// asked for its missing KBs, so the record is reported as skipped); every other field
/// tolerates being absent, null or of an unexpected type. Serializes back to the API's names.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Software {
    #[serde(deserialize_with = "required_id")]
    pub id: SoftwareId,
    /// Raw product name (`edge`, `windows_10`), as `productsNames` of a missing KB spells it.
    #[serde(default, deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub vendor: Option<String>,
    /// Number of vulnerabilities (CVEs) of this product in the organisation.
    #[serde(default, deserialize_with = "lenient::count")]
    pub weaknesses: Option<u32>,
    #[serde(default, deserialize_with = "lenient::flag")]
    pub public_exploit: Option<bool>,
    #[serde(default, deserialize_with = "lenient::flag")]
    pub active_alert: Option<bool>,
    /// Devices exposed through this product.
    #[serde(default, deserialize_with = "lenient::count")]
    pub exposed_machines: Option<u32>,
    #[serde(default, deserialize_with = "lenient::finite_number")]
    pub impact_score: Option<f64>,
}

impl Software {
    /// Whether the vendor is Microsoft (any case): the products whose missing KBs the
    /// overview asks for.
    pub fn is_microsoft(&self) -> bool {
        self.vendor
            .as_deref()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("microsoft"))
    }

    /// The raw product name, or the ID when the API gave none.
    pub fn product_name(&self) -> &str {
        self.name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(self.id.as_str())
    }
}

fn required_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SoftwareId, D::Error> {
    let text = lenient::text(deserializer)?.unwrap_or_default();
    SoftwareId::parse(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::ODataPage;
    use proptest::prelude::*;

    #[test]
    fn documented_example_parses_verbatim() {
        let body = r#"{
            "@odata.context": "https://api.security.microsoft.com/api/$metadata#Software",
            "value": [{
                "id": "microsoft-_-edge", "name": "edge", "vendor": "microsoft",
                "weaknesses": 467, "publicExploit": true, "activeAlert": false,
                "exposedMachines": 172, "impactScore": 2.39947438
            }]
        }"#;
        let page = ODataPage::<Software>::parse(body).expect("page");
        let edge = &page.items[0];
        assert_eq!(edge.id.as_str(), "microsoft-_-edge");
        assert_eq!(edge.name.as_deref(), Some("edge"));
        assert_eq!(edge.vendor.as_deref(), Some("microsoft"));
        assert_eq!(edge.weaknesses, Some(467));
        assert_eq!(edge.public_exploit, Some(true));
        assert_eq!(edge.active_alert, Some(false));
        assert_eq!(edge.exposed_machines, Some(172));
        assert_eq!(edge.impact_score, Some(2.39947438));
        assert!(edge.is_microsoft());
        assert_eq!(edge.product_name(), "edge");
    }

    #[test]
    fn one_odd_field_costs_that_field_and_no_id_costs_the_record() {
        let body = r#"{"value": [
            {"id": "microsoft-_-.net_framework", "name": 7, "vendor": "Microsoft",
             "weaknesses": -1, "publicExploit": "TRUE", "activeAlert": 1,
             "exposedMachines": "12", "impactScore": "NaN", "somethingNew": {"a": 1}},
            {"name": "no id"},
            {"id": "../x"},
            {"id": "google-_-chrome", "impactScore": "3.5", "weaknesses": 2.5}
        ]}"#;
        let page = ODataPage::<Software>::parse(body).expect("page");
        assert_eq!((page.items.len(), page.skipped.len()), (2, 2));
        let dotnet = &page.items[0];
        assert_eq!(dotnet.name.as_deref(), Some("7"));
        assert_eq!(dotnet.weaknesses, None);
        assert_eq!(dotnet.public_exploit, Some(true));
        assert_eq!(dotnet.active_alert, None);
        assert_eq!(dotnet.exposed_machines, Some(12));
        assert_eq!(dotnet.impact_score, None);
        assert!(dotnet.is_microsoft());
        let chrome = &page.items[1];
        assert!(!chrome.is_microsoft());
        assert_eq!(chrome.impact_score, Some(3.5));
        assert_eq!(chrome.weaknesses, None);
        assert_eq!(chrome.product_name(), "google-_-chrome");
    }

    #[test]
    fn serializes_back_to_the_api_names() {
        let sw: Software =
            serde_json::from_str(r#"{"id": "microsoft-_-edge", "exposedMachines": 3}"#)
                .expect("software");
        let json = serde_json::to_value(&sw).expect("json");
        assert_eq!(json["id"], "microsoft-_-edge");
        assert_eq!(json["exposedMachines"], 3);
        let back: Software = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, sw);
    }

    #[test]
    fn ids_that_would_change_the_path_are_refused() {
        for good in [
            "microsoft-_-edge",
            "microsoft-_-.net_framework",
            "microsoft-_-edge_chromium-based",
            "  microsoft-_-windows_10 ",
            "vendor-_-two words",
        ] {
            assert!(SoftwareId::parse(good).is_ok(), "{good}");
        }
        let err = |s: &str| SoftwareId::parse(s).expect_err(s);
        assert_eq!(err(""), SoftwareIdError::Empty);
        assert_eq!(err("   "), SoftwareIdError::Empty);
        assert_eq!(err("."), SoftwareIdError::PathTrick);
        assert_eq!(err(".."), SoftwareIdError::PathTrick);
        assert_eq!(err("a/b"), SoftwareIdError::InvalidCharacter('/'));
        assert_eq!(err("a\\b"), SoftwareIdError::InvalidCharacter('\\'));
        assert_eq!(err("a%2Fb"), SoftwareIdError::InvalidCharacter('%'));
        assert_eq!(err("a?b"), SoftwareIdError::InvalidCharacter('?'));
        assert_eq!(err("a#b"), SoftwareIdError::InvalidCharacter('#'));
        assert_eq!(err("a\nb"), SoftwareIdError::InvalidCharacter('\n'));
        assert_eq!(
            err("a\u{200b}b"),
            SoftwareIdError::InvalidCharacter('\u{200b}')
        );
        assert_eq!(err(&"a".repeat(257)), SoftwareIdError::TooLong);
        assert!(SoftwareId::parse(&"a".repeat(256)).is_ok());
    }

    proptest! {
        /// Whatever is accepted is trimmed, bounded, printable ASCII without the path
        /// characters, and survives a trip through the URL path unchanged.
        #[test]
        fn accepted_ids_are_one_path_segment(input in "\\PC{0,40}|[a-z._ /%-]{0,12}") {
            if let Ok(id) = SoftwareId::parse(&input) {
                let s = id.as_str();
                prop_assert_eq!(s, input.trim());
                prop_assert!(s.len() <= SoftwareId::MAX_LEN);
                prop_assert!(!s.contains(['/', '\\', '%', '?', '#']));
                let mut url = url::Url::parse("https://example.org/api/Software").unwrap();
                url.path_segments_mut().unwrap().push(s).push("getmissingkbs");
                let segments: Vec<String> = url
                    .path_segments()
                    .unwrap()
                    .map(percent_decode)
                    .collect();
                prop_assert_eq!(segments, vec!["api".to_owned(), "Software".into(), s.into(), "getmissingkbs".into()]);
            }
        }
    }

    /// Decodes a path segment through a form decoder: its `+` and `&` escaped first, since
    /// in a path they are plain characters.
    fn percent_decode(segment: &str) -> String {
        let escaped = segment.replace('+', "%2B").replace('&', "%26");
        url::form_urlencoded::parse(format!("x={escaped}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    }
}
