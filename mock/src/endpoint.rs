//! The `/api` endpoints the mock serves, by route template: what permissions, rate-limit budgets
//! and request counters key on.

/// One served endpoint (or `Other`: any path that answers 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// `GET /api/machines`.
    Machines,
    /// `GET /api/machines/{id}`.
    Machine,
    /// `GET /api/machines/{id}/getmissingkbs`.
    MachineMissingKbs,
    /// `GET /api/machines/SoftwareVulnerabilitiesByMachine`.
    SoftwareVulnerabilitiesByMachine,
    /// `GET /api/vulnerabilities/machinesVulnerabilities`.
    MachinesVulnerabilities,
    /// `GET /api/Software`.
    Software,
    /// `GET /api/Software/{id}`.
    SoftwareById,
    /// `GET /api/Software/{id}/getmissingkbs`.
    SoftwareMissingKbs,
    /// Anything else under `/api`.
    Other,
}

impl Endpoint {
    /// Every endpoint, `Other` last.
    pub const ALL: [Endpoint; 9] = [
        Self::Machines,
        Self::Machine,
        Self::MachineMissingKbs,
        Self::SoftwareVulnerabilitiesByMachine,
        Self::MachinesVulnerabilities,
        Self::Software,
        Self::SoftwareById,
        Self::SoftwareMissingKbs,
        Self::Other,
    ];

    /// The endpoint of a path, with or without the `/api` prefix (a trailing `/` ignored).
    pub fn of_path(path: &str) -> Self {
        let path = path.strip_prefix("/api").unwrap_or(path);
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["machines", "SoftwareVulnerabilitiesByMachine"] => {
                Self::SoftwareVulnerabilitiesByMachine
            }
            ["vulnerabilities", "machinesVulnerabilities"] => Self::MachinesVulnerabilities,
            ["machines"] => Self::Machines,
            ["machines", _] => Self::Machine,
            ["machines", _, "getmissingkbs"] => Self::MachineMissingKbs,
            ["Software"] => Self::Software,
            ["Software", _] => Self::SoftwareById,
            ["Software", _, "getmissingkbs"] => Self::SoftwareMissingKbs,
            _ => Self::Other,
        }
    }

    /// The route template, as `GET /_mock/stats` keys it: `/api/machines/{id}/getmissingkbs`;
    /// `other` for [`Endpoint::Other`].
    pub fn template(self) -> &'static str {
        match self {
            Self::Machines => "/api/machines",
            Self::Machine => "/api/machines/{id}",
            Self::MachineMissingKbs => "/api/machines/{id}/getmissingkbs",
            Self::SoftwareVulnerabilitiesByMachine => {
                "/api/machines/SoftwareVulnerabilitiesByMachine"
            }
            Self::MachinesVulnerabilities => "/api/vulnerabilities/machinesVulnerabilities",
            Self::Software => "/api/Software",
            Self::SoftwareById => "/api/Software/{id}",
            Self::SoftwareMissingKbs => "/api/Software/{id}/getmissingkbs",
            Self::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_endpoints_and_back() {
        for (path, endpoint) in [
            ("/api/machines", Endpoint::Machines),
            ("/machines/", Endpoint::Machines),
            ("/api/machines/abc", Endpoint::Machine),
            (
                "/api/machines/abc/getmissingkbs",
                Endpoint::MachineMissingKbs,
            ),
            (
                "/api/machines/SoftwareVulnerabilitiesByMachine",
                Endpoint::SoftwareVulnerabilitiesByMachine,
            ),
            (
                "/api/vulnerabilities/machinesVulnerabilities",
                Endpoint::MachinesVulnerabilities,
            ),
            ("/api/Software", Endpoint::Software),
            ("/api/Software/microsoft-_-edge", Endpoint::SoftwareById),
            (
                "/api/Software/microsoft-_-edge/getmissingkbs",
                Endpoint::SoftwareMissingKbs,
            ),
            ("/api/software", Endpoint::Other),
            ("/api/vulnerabilities", Endpoint::Other),
        ] {
            assert_eq!(Endpoint::of_path(path), endpoint, "{path}");
        }
        for endpoint in Endpoint::ALL {
            if endpoint != Endpoint::Other {
                let path = endpoint.template().replace("{id}", "x");
                assert_eq!(Endpoint::of_path(&path), endpoint);
            }
        }
    }
}
