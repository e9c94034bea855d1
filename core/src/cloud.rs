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
}
