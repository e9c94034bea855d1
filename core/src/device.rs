//! Devices ("machines" in the API) and the identifiers a user may give for one.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::lenient;

/// A Defender device ID: 40 hexadecimal characters, normalised to lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(String);

impl DeviceId {
    pub const LEN: usize = 40;

    pub fn parse(input: &str) -> Option<Self> {
        let trimmed = input.trim();
        (trimmed.len() == Self::LEN && trimmed.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(trimmed.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DeviceId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
            .ok_or_else(|| format!("not a device ID: {}", crate::quote::quoted(&value)))
    }
}

impl From<DeviceId> for String {
    fn from(id: DeviceId) -> String {
        id.0
    }
}

/// What a user (or a shared link) can name a device by: its ID, or its computer name which
/// must first be resolved through `GET /api/machines/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeviceRef {
    Id(DeviceId),
    ComputerName(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceRefError {
    #[error("empty device reference")]
    Empty,
    #[error("device reference is longer than 255 characters")]
    TooLong,
    #[error(
        "device reference contains {0:?}, which is neither in a device ID nor in a computer name"
    )]
    InvalidCharacter(char),
    #[error("device reference contains a path segment such as '..'")]
    PathTrick,
}

impl DeviceRef {
    /// Accepts a 40-hex device ID or a DNS-style computer name. Everything that could change
    /// the request path (`/`, `%`, `..`, whitespace, control or non-ASCII characters) is
    /// rejected here, before any call is made.
    pub fn parse(input: &str) -> Result<Self, DeviceRefError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(DeviceRefError::Empty);
        }
        if let Some(id) = DeviceId::parse(input) {
            return Ok(Self::Id(id));
        }
        if input.chars().count() > 255 {
            return Err(DeviceRefError::TooLong);
        }
        if let Some(bad) = input
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            return Err(DeviceRefError::InvalidCharacter(bad));
        }
        if input.split('.').any(str::is_empty) {
            return Err(DeviceRefError::PathTrick);
        }
        Ok(Self::ComputerName(input.to_owned()))
    }

    /// The text as it goes into a URL path segment or query (already validated).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Id(id) => id.as_str(),
            Self::ComputerName(name) => name,
        }
    }
}

impl fmt::Display for DeviceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device as returned by `GET /api/machines`. Only `id` is required (a record without a
/// usable ID cannot be opened and is reported as skipped); every other field tolerates being
/// absent, null or of an unexpected type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub id: DeviceId,
    #[serde(default, deserialize_with = "lenient::text")]
    pub computer_dns_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub first_seen: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "lenient::timestamp")]
    pub last_seen: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub os_platform: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub os_build: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub os_architecture: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub health_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub risk_score: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub exposure_level: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub device_value: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub onboarding_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub rbac_group_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text_list")]
    pub machine_tags: Vec<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub last_ip_address: Option<String>,
}

impl Device {
    /// The computer name, or the ID when the API gave no name.
    pub fn display_name(&self) -> &str {
        self.computer_dns_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(self.id.as_str())
    }

    /// "Windows11 23H2 (22631)" style summary of platform, version and build.
    pub fn os_summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(platform) = &self.os_platform {
            parts.push(platform.clone());
        }
        if let Some(version) = &self.version {
            parts.push(version.clone());
        }
        if let Some(build) = &self.os_build {
            parts.push(format!("({build})"));
        }
        parts.join(" ")
    }

    /// Whether this device's platform receives KBs at all (macOS and Linux never do).
    pub fn is_windows(&self) -> bool {
        self.os_platform
            .as_deref()
            .is_some_and(|p| p.to_ascii_lowercase().starts_with("windows"))
    }
}

/// Ordering rank of the documented `riskScore` values; unknown values sort first.
pub fn risk_rank(value: Option<&str>) -> u8 {
    match value {
        Some("None") => 1,
        Some("Informational") => 2,
        Some("Low") => 3,
        Some("Medium") => 4,
        Some("High") => 5,
        _ => 0,
    }
}

/// Ordering rank of the documented `exposureLevel` values; unknown values sort first.
pub fn exposure_rank(value: Option<&str>) -> u8 {
    match value {
        Some("None") => 1,
        Some("Low") => 2,
        Some("Medium") => 3,
        Some("High") => 4,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_accepts_forty_hex_and_lowercases() {
        let id = DeviceId::parse("1E5BC9D7E413DDD7902C2932E418702B84D0CC07").unwrap();
        assert_eq!(id.as_str(), "1e5bc9d7e413ddd7902c2932e418702b84d0cc07");
        assert!(DeviceId::parse("1e5bc9d7e413ddd7902c2932e418702b84d0cc0").is_none());
        assert!(DeviceId::parse("ze5bc9d7e413ddd7902c2932e418702b84d0cc07").is_none());
    }

    #[test]
    fn device_ref_accepts_names_and_rejects_path_tricks() {
        assert_eq!(
            DeviceRef::parse("fin-ws-0042.contoso.local"),
            Ok(DeviceRef::ComputerName("fin-ws-0042.contoso.local".into()))
        );
        assert_eq!(
            DeviceRef::parse("../admin"),
            Err(DeviceRefError::InvalidCharacter('/'))
        );
        assert_eq!(DeviceRef::parse(".."), Err(DeviceRefError::PathTrick));
        assert_eq!(
            DeviceRef::parse("a%2Fb"),
            Err(DeviceRefError::InvalidCharacter('%'))
        );
        assert_eq!(
            DeviceRef::parse("a b"),
            Err(DeviceRefError::InvalidCharacter(' '))
        );
        assert_eq!(
            DeviceRef::parse("host\u{200b}"),
            Err(DeviceRefError::InvalidCharacter('\u{200b}'))
        );
        assert_eq!(DeviceRef::parse("  "), Err(DeviceRefError::Empty));
        assert_eq!(
            DeviceRef::parse(&"a".repeat(256)),
            Err(DeviceRefError::TooLong)
        );
    }

    #[test]
    fn device_parses_documented_fields_and_tolerates_odd_ones() {
        let json = r#"{
            "id": "1e5bc9d7e413ddd7902c2932e418702b84d0cc07",
            "computerDnsName": "mymachine1.contoso.com",
            "lastSeen": "2018-08-02T14:55:03.7791856Z",
            "osPlatform": "Windows10", "version": "1709", "osBuild": 18209,
            "healthStatus": null, "riskScore": 7, "exposureLevel": {"x": 1},
            "machineTags": ["test tag 1", 5, null], "somethingNew": [1, 2]
        }"#;
        let device: Device = serde_json::from_str(json).unwrap();
        assert_eq!(device.display_name(), "mymachine1.contoso.com");
        assert_eq!(device.os_build.as_deref(), Some("18209"));
        assert_eq!(device.health_status, None);
        assert_eq!(device.risk_score.as_deref(), Some("7"));
        assert_eq!(device.exposure_level, None);
        assert_eq!(device.machine_tags, vec!["test tag 1", "5"]);
        assert_eq!(device.last_seen.unwrap().year(), 2018);
        assert_eq!(device.os_summary(), "Windows10 1709 (18209)");
        assert!(device.is_windows());
    }

    #[test]
    fn device_without_valid_id_is_rejected() {
        assert!(serde_json::from_str::<Device>(r#"{"id": "../x"}"#).is_err());
        assert!(serde_json::from_str::<Device>(r#"{"computerDnsName": "a"}"#).is_err());
    }
}
