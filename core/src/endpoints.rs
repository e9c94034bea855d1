//! The one place that builds Defender API URLs.

use url::Url;

use crate::device::{DeviceId, DeviceRef};
use crate::odata::PageRequest;

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
        {
            let mut pairs = url.query_pairs_mut();
            if !query.include_unmanaged {
                pairs.append_pair("$filter", "onboardingStatus eq 'Onboarded'");
            }
            pairs.append_pair("$top", &page.top.to_string());
            if page.skip > 0 {
                pairs.append_pair("$skip", &page.skip.to_string());
            }
        }
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
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("$top", &page.top.to_string());
            if page.skip > 0 {
                pairs.append_pair("$skip", &page.skip.to_string());
            }
        }
        url
    }

    /// `GET /api/machines/{id}/getmissingkbs`.
    pub fn missing_kbs(&self, id: &DeviceId) -> Url {
        self.with_segments(&["api", "machines", id.as_str(), "getmissingkbs"])
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
        let name = DeviceRef::parse("pc-1.contoso.local").unwrap();
        assert_eq!(
            e.machine(&name).as_str(),
            "https://api.security.microsoft.com/api/machines/pc-1.contoso.local"
        );
    }
}
