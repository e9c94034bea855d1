//! The Microsoft clouds kbwatch can talk to, and the hosts each implies.

use std::fmt;
use std::str::FromStr;

use crate::device::DeviceId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cloud {
    #[default]
    Commercial,
    Gcc,
    GccHigh,
    Dod,
}

impl Cloud {
    pub const ALL: [Cloud; 4] = [Cloud::Commercial, Cloud::Gcc, Cloud::GccHigh, Cloud::Dod];

    /// The name used in config.json.
    pub fn config_name(self) -> &'static str {
        match self {
            Self::Commercial => "commercial",
            Self::Gcc => "gcc",
            Self::GccHigh => "gcc-high",
            Self::Dod => "dod",
        }
    }

    pub fn default_api_base(self) -> &'static str {
        match self {
            Self::Commercial => "https://api.security.microsoft.com",
            Self::Gcc => "https://api-gcc.securitycenter.microsoft.us",
            Self::GccHigh | Self::Dod => "https://api-gov.securitycenter.microsoft.us",
        }
    }

    /// Regional hosts of the commercial cloud (`eu` → `https://eu.api.security.microsoft.com`).
    pub const REGIONS: &'static [&'static str] = &["us", "eu", "uk", "au", "swa", "ina", "aea"];

    /// The API base for a region; only the commercial cloud has regional hosts.
    pub fn regional_api_base(self, region: &str) -> Option<String> {
        (self == Self::Commercial && Self::REGIONS.contains(&region))
            .then(|| format!("https://{region}.api.security.microsoft.com"))
    }

    /// The MSAL scope that yields a token for the Defender API in this cloud.
    pub fn default_scope(self) -> &'static str {
        match self {
            Self::Commercial => "https://api.securitycenter.microsoft.com/.default",
            Self::Gcc => "https://api-gcc.securitycenter.microsoft.us/.default",
            Self::GccHigh | Self::Dod => "https://api-gov.securitycenter.microsoft.us/.default",
        }
    }

    pub fn authority_host(self) -> &'static str {
        match self {
            Self::Commercial | Self::Gcc => "login.microsoftonline.com",
            Self::GccHigh | Self::Dod => "login.microsoftonline.us",
        }
    }

    /// Every API origin a cloud and region of `config.json` can point kbwatch at, each once,
    /// cloud by cloud (its default base, then its regional ones): what a Content-Security-Policy
    /// for any tenant must allow in `connect-src`.
    pub fn every_api_origin() -> Vec<String> {
        let all = Self::ALL.into_iter().flat_map(|cloud| {
            let regional = Self::REGIONS
                .iter()
                .filter_map(move |region| cloud.regional_api_base(region));
            std::iter::once(cloud.default_api_base().to_owned()).chain(regional)
        });
        unique(all)
    }

    /// Every sign-in origin of the clouds, each once: `connect-src` and `frame-src` of a policy
    /// for any tenant signing in with MSAL.
    pub fn every_sign_in_origin() -> Vec<String> {
        unique(
            Self::ALL
                .into_iter()
                .map(|cloud| format!("https://{}", cloud.authority_host())),
        )
    }

    pub fn portal_host(self) -> &'static str {
        match self {
            Self::Commercial | Self::Gcc => "security.microsoft.com",
            Self::GccHigh => "security.microsoft.us",
            Self::Dod => "security.apps.mil",
        }
    }

    /// The device's page in the Defender portal.
    pub fn device_portal_url(self, id: &DeviceId) -> String {
        format!("https://{}/machines/v2/{id}/overview", self.portal_host())
    }
}

/// `items` without repeats, in their first order.
fn unique(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.config_name())
    }
}

impl FromStr for Cloud {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|c| c.config_name().eq_ignore_ascii_case(s.trim()))
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_links_follow_the_cloud() {
        let id = DeviceId::parse(&"a".repeat(40)).unwrap();
        assert_eq!(
            Cloud::Commercial.device_portal_url(&id),
            format!(
                "https://security.microsoft.com/machines/v2/{}/overview",
                "a".repeat(40)
            )
        );
        assert!(Cloud::Dod
            .device_portal_url(&id)
            .starts_with("https://security.apps.mil/"));
        assert_eq!("GCC-High".parse(), Ok(Cloud::GccHigh));
        assert_eq!(Cloud::GccHigh.authority_host(), "login.microsoftonline.us");
    }

    /// `deploy/microsoft-hosts.json` feeds the build's meta Content-Security-Policy (its
    /// `connect-src` and `frame-src`): it must name every origin a cloud and region can send
    /// kbwatch to, or the policy blocks that tenant, and nothing else, or the policy lets a
    /// token go where kbwatch never sends one.
    #[test]
    fn the_csp_host_list_is_exactly_what_the_clouds_can_use() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/microsoft-hosts.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        let listed = |key: &str| -> Vec<String> {
            file[key]
                .as_array()
                .unwrap_or_else(|| panic!("{key}: a list"))
                .iter()
                .map(|v| v.as_str().expect("origins are strings").to_owned())
                .collect()
        };
        assert_eq!(listed("api"), Cloud::every_api_origin());
        assert_eq!(listed("signIn"), Cloud::every_sign_in_origin());

        let api = Cloud::every_api_origin();
        for cloud in Cloud::ALL {
            assert!(
                api.contains(&cloud.default_api_base().to_owned()),
                "{cloud}"
            );
            for region in Cloud::REGIONS {
                if let Some(base) = cloud.regional_api_base(region) {
                    assert!(api.contains(&base), "{cloud} {region}");
                }
            }
        }
        assert_eq!(api.len(), 1 + Cloud::REGIONS.len() + 2, "{api:?}");
    }
}
