//! The one place that builds Defender API URLs.

use url::Url;

use crate::device::{DeviceId, DeviceRef};
use crate::kb_id::KbId;
use crate::odata::PageRequest;
use crate::software::SoftwareId;

/// Builds request URLs under a resolved API base (`https://api.security.microsoft.com` or a
/// same-origin proxy prefix such as `https://kbwatch.example/mde`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    base: Url,
}

/// The server-side device filter of the device list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MachineQuery {
    /// Include discovered devices that are not onboarded (off by default: they pollute the list).
    pub include_unmanaged: bool,
}

/// A server-side filter of `GET /api/vulnerabilities/machinesVulnerabilities` (the page
/// documents `$filter` on `machineId` and `fixingKbId`, among others).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VulnerabilityFilter {
    /// One device's rows: its missing KBs when `getmissingkbs` is refused
    /// (`crate::fallback`).
    Device(DeviceId),
    /// Every device's rows fixed by one KB: the drill-down of an overview KB
    /// (`crate::overview`).
    FixingKb(KbId),
}

impl VulnerabilityFilter {
    /// The `$filter` expression (`machineId eq '…'` or `fixingKbId eq '…'`).
    pub fn expression(&self) -> String {
        match self {
            Self::Device(id) => format!("machineId eq {}", odata_string(id.as_str())),
            Self::FixingKb(kb) => format!("fixingKbId eq {}", odata_string(kb.as_str())),
        }
    }
}

/// `value` as an OData string literal: in single quotes, each single quote doubled
/// (`O'Brien` becomes `'O''Brien'`), so no value can end the literal and add to the filter.
pub fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl Endpoints {
    /// `base` must be absolute; a trailing slash is ignored.
    pub fn new(mut base: Url) -> Self {
        let trimmed = base.path().trim_end_matches('/').to_owned();
        base.set_path(&trimmed);
        base.set_query(None);
        base.set_fragment(None);
        Self { base }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    fn with_segments(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `GET /api/machines` without query: the collection endpoint, used to rebase nextLinks.
    pub fn machines_collection(&self) -> Url {
        self.with_segments(&["api", "machines"])
    }

    pub fn machines(&self, query: MachineQuery, page: PageRequest) -> Url {
        let mut url = self.machines_collection();
        if !query.include_unmanaged {
            url.query_pairs_mut()
                .append_pair("$filter", "onboardingStatus eq 'Onboarded'");
        }
        append_page(&mut url, page);
        url
    }

    /// `GET /api/machines/{id or computer name}`; the segment is percent-encoded.
    pub fn machine(&self, device: &DeviceRef) -> Url {
        self.with_segments(&["api", "machines", device.as_str()])
    }

    /// `GET /api/vulnerabilities/machinesVulnerabilities` (the bulk path), one page.
    pub fn machine_vulnerabilities_collection(&self) -> Url {
        self.with_segments(&["api", "vulnerabilities", "machinesVulnerabilities"])
    }

    pub fn machine_vulnerabilities(&self, page: PageRequest) -> Url {
        let mut url = self.machine_vulnerabilities_collection();
        append_page(&mut url, page);
        url
    }

    /// `GET /api/machines/{id}/getmissingkbs`.
    pub fn missing_kbs(&self, id: &DeviceId) -> Url {
        self.with_segments(&["api", "machines", id.as_str(), "getmissingkbs"])
    }

    /// `GET /api/vulnerabilities/machinesVulnerabilities?$filter=…`, one page: one device's
    /// rows, or the rows fixed by one KB.
    pub fn machine_vulnerabilities_where(
        &self,
        filter: &VulnerabilityFilter,
        page: PageRequest,
    ) -> Url {
        let mut url = self.machine_vulnerabilities_collection();
        url.query_pairs_mut()
            .append_pair("$filter", &filter.expression());
        append_page(&mut url, page);
        url
    }

    /// `GET /api/Software` without query: the collection endpoint, used to rebase nextLinks.
    pub fn software_collection(&self) -> Url {
        self.with_segments(&["api", "Software"])
    }

    /// `GET /api/Software`, one page; with `vendor`, only that vendor's products
    /// (`$filter=vendor eq 'microsoft'`, the value quoted by [`odata_string`]).
    pub fn software(&self, vendor: Option<&str>, page: PageRequest) -> Url {
        let mut url = self.software_collection();
        if let Some(vendor) = vendor {
            url.query_pairs_mut()
                .append_pair("$filter", &format!("vendor eq {}", odata_string(vendor)));
        }
        append_page(&mut url, page);
        url
    }

    /// `GET /api/Software/{id}/getmissingkbs`: the KBs missing for one product, with the
    /// number of devices missing each (`machineMissedOn`).
    pub fn software_missing_kbs(&self, id: &SoftwareId) -> Url {
        self.with_segments(&["api", "Software", id.as_str(), "getmissingkbs"])
    }

    /// `GET /api/machines/SoftwareVulnerabilitiesByMachine?pageSize=…` (the JSON export, not
    /// the file export).
    pub fn software_vulnerabilities_by_machine(&self, page_size: u32) -> Url {
        let mut url = self.with_segments(&["api", "machines", "SoftwareVulnerabilitiesByMachine"]);
        url.query_pairs_mut()
            .append_pair("pageSize", &page_size.to_string());
        url
    }

    /// One URL from each builder above (two where one builder makes two shapes), named by
    /// the method: every kind of request kbwatch makes. A proxy's allow-list must pass all of
    /// them; the e2e suite checks the reference nginx configuration against this list.
    ///
    /// A new builder method gets its line here: `every_builder_has_an_example` fails until it
    /// does, so the proxy's allow-list cannot miss a new endpoint.
    pub fn one_url_per_builder(&self) -> Vec<(&'static str, Url)> {
        let id = DeviceId::parse("0123456789abcdef0123456789abcdef01234567");
        let name = DeviceRef::parse("pc-1.contoso.local").ok();
        let kb = KbId::parse("KB5034441");
        let product = SoftwareId::parse("microsoft-_-windows 11").ok();
        let page = PageRequest {
            top: 100,
            skip: 200,
        };
        let mut urls = vec![
            ("machines_collection", self.machines_collection()),
            ("machines", self.machines(MachineQuery::default(), page)),
            (
                "machine_vulnerabilities_collection",
                self.machine_vulnerabilities_collection(),
            ),
            (
                "machine_vulnerabilities",
                self.machine_vulnerabilities(page),
            ),
            ("software_collection", self.software_collection()),
            ("software", self.software(Some("microsoft"), page)),
            (
                "software_vulnerabilities_by_machine",
                self.software_vulnerabilities_by_machine(1000),
            ),
        ];
        if let Some(id) = id {
            urls.push(("machine", self.machine(&DeviceRef::Id(id.clone()))));
            urls.push(("missing_kbs", self.missing_kbs(&id)));
            let filter = VulnerabilityFilter::Device(id);
            urls.push((
                "machine_vulnerabilities_where",
                self.machine_vulnerabilities_where(&filter, page),
            ));
        }
        if let Some(name) = name {
            urls.push(("machine", self.machine(&name)));
        }
        if let Some(kb) = kb {
            let filter = VulnerabilityFilter::FixingKb(kb);
            urls.push((
                "machine_vulnerabilities_where",
                self.machine_vulnerabilities_where(&filter, page),
            ));
        }
        if let Some(product) = product {
            urls.push(("software_missing_kbs", self.software_missing_kbs(&product)));
        }
        urls
    }
}

/// `$top`, and `$skip` when not 0.
fn append_page(url: &mut Url, page: PageRequest) {
    let mut pairs = url.query_pairs_mut();
    pairs.append_pair("$top", &page.top.to_string());
    if page.skip > 0 {
        pairs.append_pair("$skip", &page.skip.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(base: &str) -> Endpoints {
        Endpoints::new(Url::parse(base).unwrap())
    }

    #[test]
    fn urls_are_built_under_the_base() {
        let id = DeviceId::parse(&"b".repeat(40)).unwrap();
        let e = endpoints("https://example.org/mde/");
        assert_eq!(
            e.missing_kbs(&id).as_str(),
            format!(
                "https://example.org/mde/api/machines/{}/getmissingkbs",
                "b".repeat(40)
            )
        );
        let e = endpoints("https://api.security.microsoft.com");
        assert_eq!(
            e.machines(MachineQuery::default(), PageRequest::first(10_000)).as_str(),
            "https://api.security.microsoft.com/api/machines?%24filter=onboardingStatus+eq+%27Onboarded%27&%24top=10000"
        );
        assert_eq!(
            e.machines(
                MachineQuery {
                    include_unmanaged: true
                },
                PageRequest { top: 5, skip: 10 }
            )
            .as_str(),
            "https://api.security.microsoft.com/api/machines?%24top=5&%24skip=10"
        );
        assert_eq!(
            e.software_vulnerabilities_by_machine(1).as_str(),
            "https://api.security.microsoft.com/api/machines/SoftwareVulnerabilitiesByMachine?pageSize=1"
        );
        let name = DeviceRef::parse("pc-1.contoso.local").unwrap();
        assert_eq!(
            e.machine(&name).as_str(),
            "https://api.security.microsoft.com/api/machines/pc-1.contoso.local"
        );
    }

    #[test]
    fn software_urls() {
        let e = endpoints("https://api.security.microsoft.com");
        assert_eq!(
            e.software_collection().as_str(),
            "https://api.security.microsoft.com/api/Software"
        );
        assert_eq!(
            e.software(Some("microsoft"), PageRequest::first(10_000)).as_str(),
            "https://api.security.microsoft.com/api/Software?%24filter=vendor+eq+%27microsoft%27&%24top=10000"
        );
        assert_eq!(
            e.software(
                None,
                PageRequest {
                    top: 100,
                    skip: 200
                }
            )
            .as_str(),
            "https://api.security.microsoft.com/api/Software?%24top=100&%24skip=200"
        );
        // A quote in the value is doubled, and `&`/`=` stay inside the one parameter.
        let tricky = e.software(Some("o'brien&$top=1"), PageRequest::first(1));
        assert_eq!(
            tricky.as_str(),
            "https://api.security.microsoft.com/api/Software?%24filter=vendor+eq+%27o%27%27brien%26%24top%3D1%27&%24top=1"
        );
        let pairs: Vec<(String, String)> = tricky.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                (
                    "$filter".to_owned(),
                    "vendor eq 'o''brien&$top=1'".to_owned()
                ),
                ("$top".to_owned(), "1".to_owned())
            ]
        );
        let edge = SoftwareId::parse("microsoft-_-edge").unwrap();
        assert_eq!(
            e.software_missing_kbs(&edge).as_str(),
            "https://api.security.microsoft.com/api/Software/microsoft-_-edge/getmissingkbs"
        );
        let odd = SoftwareId::parse("vendor-_-two words").unwrap();
        assert_eq!(
            endpoints("https://kbwatch.example/mde/")
                .software_missing_kbs(&odd)
                .as_str(),
            "https://kbwatch.example/mde/api/Software/vendor-_-two%20words/getmissingkbs"
        );
    }

    #[test]
    fn filtered_machine_vulnerabilities_urls() {
        let e = endpoints("https://api.security.microsoft.com");
        let device = DeviceId::parse("7A704E17D1C2977C0E7B665FB18AE6E1FE7F3283").unwrap();
        assert_eq!(
            e.machine_vulnerabilities_where(
                &VulnerabilityFilter::Device(device),
                PageRequest::first(10_000)
            )
            .as_str(),
            "https://api.security.microsoft.com/api/vulnerabilities/machinesVulnerabilities?%24filter=machineId+eq+%277a704e17d1c2977c0e7b665fb18ae6e1fe7f3283%27&%24top=10000"
        );
        let kb = KbId::parse("KB3185911").unwrap();
        assert_eq!(
            e.machine_vulnerabilities_where(
                &VulnerabilityFilter::FixingKb(kb),
                PageRequest {
                    top: 10_000,
                    skip: 20_000
                }
            )
            .as_str(),
            "https://api.security.microsoft.com/api/vulnerabilities/machinesVulnerabilities?%24filter=fixingKbId+eq+%273185911%27&%24top=10000&%24skip=20000"
        );
        assert_eq!(
            e.machine_vulnerabilities(PageRequest::first(10)).as_str(),
            "https://api.security.microsoft.com/api/vulnerabilities/machinesVulnerabilities?%24top=10"
        );
    }

    /// The `pub fn name(&self, …)` methods of `impl Endpoints` in this file, but `base` and
    /// the list itself.
    fn builder_methods() -> std::collections::BTreeSet<&'static str> {
        let source = include_str!("endpoints.rs");
        let start = source.find("impl Endpoints {").unwrap();
        let end = start + source[start..].find("\n}\n").unwrap();
        source[start..end]
            .split("pub fn ")
            .skip(1)
            .filter_map(|rest| {
                let (name, args) = rest.split_once('(')?;
                args.trim_start().starts_with("&self").then_some(name)
            })
            .filter(|name| !matches!(*name, "base" | "one_url_per_builder"))
            .collect()
    }

    #[test]
    fn every_builder_has_an_example() {
        let e = endpoints("https://kbwatch.example/mde");
        let examples = e.one_url_per_builder();
        let named: std::collections::BTreeSet<&str> =
            examples.iter().map(|(name, _)| *name).collect();
        let builders = builder_methods();
        assert!(builders.len() >= 11, "{builders:?}");
        assert_eq!(named, builders, "one_url_per_builder lists every builder");
        // Both device references, both filters, each example under the base.
        assert_eq!(examples.len(), builders.len() + 2);
        for (name, url) in &examples {
            assert!(
                url.as_str().starts_with("https://kbwatch.example/mde/api/"),
                "{name}: {url}"
            );
        }
    }

    #[test]
    fn odata_strings_double_single_quotes() {
        assert_eq!(odata_string("microsoft"), "'microsoft'");
        assert_eq!(odata_string("o'brien"), "'o''brien'");
        assert_eq!(odata_string("''"), "''''''");
        assert_eq!(odata_string(""), "''");
    }
}
