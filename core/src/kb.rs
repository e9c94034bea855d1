//! Missing security updates (`PublicProductFixDto` in the API's metadata).

use serde::{Deserialize, Serialize};
use url::Url;

use crate::lenient;

const CATALOG_HOST: &str = "catalog.update.microsoft.com";

/// One security update a device lacks, from `GET /api/machines/{id}/getmissingkbs`.
/// Serializes back to the API's field names (the fleet cache stores it that way).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingKb {
    /// The KB number without "KB" prefix, as the API sends it (not trusted to be digits).
    #[serde(deserialize_with = "required_text")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(
        default,
        rename = "productsNames",
        deserialize_with = "lenient::text_list"
    )]
    pub products: Vec<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub url: Option<String>,
    /// Always 1 on the per-device endpoint; a device count on the per-software variant.
    #[serde(default, deserialize_with = "lenient::count")]
    pub machine_missed_on: Option<u32>,
    #[serde(default, deserialize_with = "lenient::count")]
    pub cve_addressed: Option<u32>,
}

fn required_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    lenient::text(deserializer)?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| serde::de::Error::custom("missing KB id"))
}

impl MissingKb {
    /// The KB number when the id is a plausible one (see [`kb_number`]).
    pub fn kb_number(&self) -> Option<&str> {
        kb_number(&self.id)
    }

    /// "KB4540673", or the raw id when it is not a KB number.
    pub fn label(&self) -> String {
        match self.kb_number() {
            Some(n) => format!("KB{n}"),
            None => self.id.clone(),
        }
    }

    pub fn cves(&self) -> u32 {
        self.cve_addressed.unwrap_or(0)
    }

    /// The Microsoft Update Catalog link. The API's own `url` is used only when it is https on
    /// the catalog host; otherwise the link is built from the KB number. `None` when neither
    /// is possible (a hostile or garbled record).
    pub fn catalog_url(&self) -> Option<String> {
        if let Some(given) = self.url.as_deref().and_then(safe_catalog_url) {
            return Some(given);
        }
        self.kb_number()
            .map(|n| format!("https://{CATALOG_HOST}/v7/site/Search.aspx?q=KB{n}"))
    }

    /// The KB article on Microsoft Support.
    pub fn support_url(&self) -> Option<String> {
        self.kb_number()
            .map(|n| format!("https://support.microsoft.com/help/{n}"))
    }

    /// Human product names, in API order.
    pub fn product_labels(&self) -> Vec<String> {
        self.products.iter().map(|p| humanize_product(p)).collect()
    }
}

/// "4540673" from "4540673", "KB4540673" or "kb4540673": digits only, at most 8, after an
/// optional "KB" in any case. `None` for anything else (an advisory such as "ADV190023", a list,
/// a vendor's update name). The API's own ids carry no prefix; people, links and the bulk
/// endpoints add one, in either case.
pub fn kb_number(raw: &str) -> Option<&str> {
    let digits = match raw.get(..2) {
        Some(prefix) if prefix.eq_ignore_ascii_case("kb") => &raw[2..],
        _ => raw,
    };
    (!digits.is_empty() && digits.len() <= 8 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

/// Returns the URL normalised when it is `https://catalog.update.microsoft.com/...` without
/// credentials or explicit port, else `None`.
pub fn safe_catalog_url(candidate: &str) -> Option<String> {
    let url = Url::parse(candidate.trim()).ok()?;
    let ok = url.scheme() == "https"
        && url.host_str() == Some(CATALOG_HOST)
        && url.port().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    ok.then(|| url.to_string())
}

/// The distinct raw product names among `names`, sorted by their human label (then by the raw
/// name): the choices of a product filter.
pub fn products_by_label<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut list: Vec<String> = names
        .into_iter()
        .filter(|p| seen.insert(*p))
        .map(str::to_owned)
        .collect();
    crate::sort::sort_by_cached_key(&mut list, |p| {
        (humanize_product(p).to_lowercase(), p.clone())
    });
    list
}

/// `windows_10` → "Windows 10", `.net_framework` → ".NET Framework".
pub fn humanize_product(raw: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        (".net_framework", ".NET Framework"),
        ("edge", "Microsoft Edge"),
        ("internet_explorer", "Internet Explorer"),
        ("office", "Microsoft Office"),
        ("sql_server", "SQL Server"),
        ("exchange_server", "Exchange Server"),
        ("sharepoint_server", "SharePoint Server"),
    ];
    if let Some((_, label)) = KNOWN.iter().find(|(key, _)| key.eq_ignore_ascii_case(raw)) {
        return (*label).to_owned();
    }
    raw.split('_')
        .filter(|w| !w.is_empty())
        .map(|word| {
            // Defender's product names are ASCII identifiers ("windows_10"); ASCII
            // capitalisation leaves any other first letter as it is and keeps the Unicode
            // upper-case tables out of the wasm.
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb(id: &str, url: Option<&str>) -> MissingKb {
        MissingKb {
            id: id.into(),
            name: None,
            products: vec![],
            url: url.map(Into::into),
            machine_missed_on: None,
            cve_addressed: None,
        }
    }

    #[test]
    fn catalog_url_keeps_safe_api_links_only() {
        let good = "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673";
        assert_eq!(
            kb("4540673", Some(good)).catalog_url().as_deref(),
            Some(good)
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "http://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB1",
            "https://catalog.update.microsoft.com.evil.example/x",
            "https://evil@catalog.update.microsoft.com/x",
            "https://catalog.update.microsoft.com:8443/x",
            "//catalog.update.microsoft.com/x",
        ] {
            assert_eq!(
                kb("4540673", Some(bad)).catalog_url().as_deref(),
                Some("https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673"),
                "{bad}"
            );
        }
        assert_eq!(kb("<script>", Some("javascript:x")).catalog_url(), None);
        assert_eq!(kb("<script>", None).support_url(), None);
    }

    #[test]
    fn kb_number_accepts_prefix_and_rejects_junk() {
        assert_eq!(kb("KB5044285", None).kb_number(), Some("5044285"));
        assert_eq!(kb("kb5044285", None).label(), "KB5044285");
        assert_eq!(
            kb("Kb5044285", None).support_url().as_deref(),
            Some("https://support.microsoft.com/help/5044285")
        );
        assert_eq!(kb("5044285", None).label(), "KB5044285");
        assert_eq!(kb("12345678901", None).kb_number(), None);
        assert_eq!(kb("45x", None).label(), "45x");
    }

    #[test]
    fn kb_numbers_are_recognised_strictly() {
        assert_eq!(kb_number("4540673"), Some("4540673"));
        assert_eq!(kb_number("KB4540673"), Some("4540673"));
        assert_eq!(kb_number("kb4540673"), Some("4540673"));
        assert_eq!(kb_number("kB1"), Some("1"));
        for not_kb in [
            "ADV190023",
            "KB",
            "",
            "4540673,4540674",
            "123456789",
            "KB-1",
            "KBKB1",
            " KB1",
            "é1",
        ] {
            assert_eq!(kb_number(not_kb), None, "{not_kb}");
        }
    }

    proptest::proptest! {
        /// Any "KB" spelling before up to 8 digits gives the digits; whatever is accepted is
        /// 1 to 8 ASCII digits ending the input, and never panics on any text.
        #[test]
        fn kb_number_is_the_digits_after_an_optional_prefix(
            prefix in proptest::sample::select(vec!["", "KB", "kb", "Kb", "kB"]),
            digits in "[0-9]{1,8}",
            any in "\\PC{0,12}",
        ) {
            let raw = format!("{prefix}{digits}");
            proptest::prop_assert_eq!(kb_number(&raw), Some(digits.as_str()));
            if let Some(n) = kb_number(&any) {
                proptest::prop_assert!((1..=8).contains(&n.len()));
                proptest::prop_assert!(n.bytes().all(|b| b.is_ascii_digit()));
                proptest::prop_assert!(any.ends_with(n));
            }
        }
    }

    #[test]
    fn products_are_humanised() {
        assert_eq!(humanize_product("windows_10"), "Windows 10");
        assert_eq!(
            humanize_product("windows_server_2019"),
            "Windows Server 2019"
        );
        assert_eq!(humanize_product(".net_framework"), ".NET Framework");
        assert_eq!(humanize_product("edge"), "Microsoft Edge");
        assert_eq!(humanize_product("__"), "");
    }
}
