//! OData collections (`{"@odata.context", "value": [...], "@odata.nextLink"}`) and the paging
//! of `GET /api/machines`, which may page by `@odata.nextLink` or only by `$top`/`$skip`.

use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::api_error::{ApiError, MalformedBody};

/// The largest `$top` the API accepts.
pub const MAX_TOP: u32 = 10_000;

/// One page of a collection. Records that could not be read are not dropped silently: their
/// reasons are kept in `skipped` so the UI can say how many were unusable.
#[derive(Debug, Clone, PartialEq)]
pub struct ODataPage<T> {
    pub items: Vec<T>,
    pub skipped: Vec<String>,
    pub next_link: Option<String>,
    /// Number of records the server sent (readable or not), for `$skip` paging.
    pub received: usize,
}

impl<T: DeserializeOwned> ODataPage<T> {
    pub fn parse(body: &str) -> Result<Self, ApiError> {
        let malformed = |kind| Err(ApiError::Malformed(kind));
        let root: Value = match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => return malformed(MalformedBody::from_json_error(body, &e)),
        };
        let Value::Object(mut root) = root else {
            return malformed(MalformedBody::WrongShape(
                "the response is not a JSON object".into(),
            ));
        };
        let records = match root.remove("value") {
            Some(Value::Array(records)) => records,
            Some(Value::Null) => {
                return malformed(MalformedBody::WrongShape("\"value\" is null".into()))
            }
            Some(_) => {
                return malformed(MalformedBody::WrongShape("\"value\" is not a list".into()))
            }
            None => return malformed(MalformedBody::WrongShape("\"value\" is missing".into())),
        };
        let next_link = match root.remove("@odata.nextLink") {
            Some(Value::String(link)) if !link.trim().is_empty() => Some(link),
            _ => None,
        };
        let received = records.len();
        let mut items = Vec::with_capacity(received);
        let mut skipped = Vec::new();
        for (index, record) in records.into_iter().enumerate() {
            match serde_json::from_value(record) {
                Ok(item) => items.push(item),
                Err(e) => skipped.push(format!("record {}: {e}", index + 1)),
            }
        }
        // Records came but none was usable: say so, rather than show an empty (and therefore
        // misleadingly "fully patched") list.
        if received > 0 && items.is_empty() {
            return malformed(MalformedBody::WrongShape(format!(
                "all {received} records could not be read"
            )));
        }
        Ok(Self {
            items,
            skipped,
            next_link,
            received,
        })
    }
}

/// `$top`/`$skip` of one request for a paged collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub top: u32,
    pub skip: u32,
}

impl PageRequest {
    pub fn first(top: u32) -> Self {
        Self {
            top: top.clamp(1, MAX_TOP),
            skip: 0,
        }
    }
}

/// Where the next page comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextPage {
    /// The server's `@odata.nextLink`, rebased onto the configured API base.
    Link(Url),
    /// No link, but a full page arrived: ask for the following `$skip`.
    Skip(PageRequest),
    Done,
}

/// Decides how to continue after `page` answered `request`.
///
/// A `nextLink` is trusted only for its path and query, and only when it points at the same
/// collection: the bearer token must never be sent to a host taken from a response, and behind
/// a proxy the API's absolute host would not be reachable anyway.
pub fn next_page<T>(
    endpoint: &Url,
    request: PageRequest,
    page: &ODataPage<T>,
) -> Result<NextPage, ApiError> {
    if let Some(link) = &page.next_link {
        return rebase_next_link(endpoint, link).map(NextPage::Link);
    }
    if page.received as u32 >= request.top && page.received > 0 {
        return Ok(NextPage::Skip(PageRequest {
            top: request.top,
            skip: request.skip.saturating_add(page.received as u32),
        }));
    }
    Ok(NextPage::Done)
}

fn rebase_next_link(endpoint: &Url, link: &str) -> Result<Url, ApiError> {
    let wrong = || {
        ApiError::Malformed(MalformedBody::WrongShape(format!(
            "@odata.nextLink does not point to the same collection: {link}"
        )))
    };
    let parsed = Url::parse(link)
        .or_else(|_| endpoint.join(link))
        .map_err(|_| wrong())?;
    let collection = endpoint
        .path()
        .rsplit_once("/api/")
        .map(|(_, tail)| tail)
        .ok_or_else(wrong)?;
    let link_collection = parsed
        .path()
        .rsplit_once("/api/")
        .map(|(_, tail)| tail)
        .ok_or_else(wrong)?;
    if !link_collection.eq_ignore_ascii_case(collection) {
        return Err(wrong());
    }
    let mut rebased = endpoint.clone();
    rebased.set_query(parsed.query());
    Ok(rebased)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kb::MissingKb;

    #[test]
    fn documented_example_parses_verbatim() {
        let body = r#"{
            "@odata.context": "https://api.securitycenter.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.PublicProductFixDto)",
            "value": [
                { "id": "4540673", "name": "March 2020 Security Updates",
                  "productsNames": ["windows_10", "edge", "internet_explorer"],
                  "url": "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673",
                  "machineMissedOn": 1, "cveAddressed": 97 }
            ]
        }"#;
        let page = ODataPage::<MissingKb>::parse(body).unwrap();
        assert_eq!(page.items.len(), 1);
        let kb = &page.items[0];
        assert_eq!(kb.id, "4540673");
        assert_eq!(kb.name.as_deref(), Some("March 2020 Security Updates"));
        assert_eq!(kb.products, vec!["windows_10", "edge", "internet_explorer"]);
        assert_eq!(kb.machine_missed_on, Some(1));
        assert_eq!(kb.cve_addressed, Some(97));
        assert_eq!(page.next_link, None);
    }

    #[test]
    fn lenient_records_and_skipped_ones_are_reported() {
        let body = r#"{"value": [
            {"id": 5044285, "name": null, "productsNames": null, "cveAddressed": "12", "extra": {"a": 1}},
            {"name": "no id"},
            "not an object",
            {"id": "123", "cveAddressed": -4, "machineMissedOn": 1.5}
        ], "@odata.count": 4}"#;
        let page = ODataPage::<MissingKb>::parse(body).unwrap();
        assert_eq!(page.received, 4);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.skipped.len(), 2);
        assert_eq!(page.items[0].id, "5044285");
        assert_eq!(page.items[0].cve_addressed, Some(12));
        assert!(page.items[0].products.is_empty());
        assert_eq!(page.items[1].cve_addressed, None);
        assert_eq!(page.items[1].machine_missed_on, None);
    }

    #[test]
    fn malformed_bodies_are_classified() {
        let kind = |body: &str| match ODataPage::<MissingKb>::parse(body) {
            Err(ApiError::Malformed(kind)) => kind,
            other => panic!("{other:?}"),
        };
        assert_eq!(kind(""), MalformedBody::Empty);
        assert_eq!(kind(r#"{"value": [{"id": "1""#), MalformedBody::Truncated);
        assert!(matches!(kind("<html>"), MalformedBody::NotJson(_)));
        assert!(matches!(
            kind(r#"{"value": null}"#),
            MalformedBody::WrongShape(_)
        ));
        assert!(matches!(
            kind(r#"{"value": {"oops": 1}}"#),
            MalformedBody::WrongShape(_)
        ));
        assert!(matches!(kind(r#"[1]"#), MalformedBody::WrongShape(_)));
        assert_eq!(
            kind(r#"{"value": [{"id": null, "name": null}, {"id": null}]}"#),
            MalformedBody::WrongShape("all 2 records could not be read".into())
        );
    }

    fn page(received: usize, next_link: Option<&str>) -> ODataPage<()> {
        ODataPage {
            items: vec![(); received],
            skipped: vec![],
            next_link: next_link.map(Into::into),
            received,
        }
    }

    #[test]
    fn paging_follows_next_link_rebased_onto_our_base() {
        let endpoint = Url::parse("https://kbwatch.example/mde/api/machines").unwrap();
        let next = next_page(
            &endpoint,
            PageRequest::first(100),
            &page(
                100,
                Some("https://api.security.microsoft.com/api/machines?$top=100&$skip=100"),
            ),
        )
        .unwrap();
        assert_eq!(
            next,
            NextPage::Link(
                Url::parse("https://kbwatch.example/mde/api/machines?$top=100&$skip=100").unwrap()
            )
        );
    }

    #[test]
    fn next_link_to_another_collection_is_refused() {
        let endpoint = Url::parse("https://api.security.microsoft.com/api/machines").unwrap();
        let result = next_page(
            &endpoint,
            PageRequest::first(100),
            &page(100, Some("https://evil.example/api/other?x=1")),
        );
        assert!(result.is_err());
    }

    #[test]
    fn paging_by_skip_stops_on_a_short_page() {
        let endpoint = Url::parse("https://api.security.microsoft.com/api/machines").unwrap();
        let first = PageRequest::first(100);
        assert_eq!(
            next_page(&endpoint, first, &page(100, None)).unwrap(),
            NextPage::Skip(PageRequest {
                top: 100,
                skip: 100
            })
        );
        assert_eq!(
            next_page(&endpoint, first, &page(99, None)).unwrap(),
            NextPage::Done
        );
        assert_eq!(
            next_page(&endpoint, first, &page(0, None)).unwrap(),
            NextPage::Done
        );
        assert_eq!(PageRequest::first(50_000).top, MAX_TOP);
    }
}
