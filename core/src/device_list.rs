//! Filtering, sorting and facet counts of the device list (client side, after paging).

use std::collections::BTreeMap;

use crate::device::{exposure_rank, risk_rank, Device};
use crate::sort::{sort_keys, Sort};

/// What the analyst narrowed the device list to. Empty fields do not filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceFilter {
    /// Case-insensitive substring of the computer name (or the device ID).
    pub search: String,
    pub os_platform: Option<String>,
    pub health_status: Option<String>,
    pub risk_score: Option<String>,
    pub exposure_level: Option<String>,
    pub tag: Option<String>,
    pub group: Option<String>,
}

impl DeviceFilter {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn matches(&self, device: &Device) -> bool {
        let search = self.search.trim().to_lowercase();
        let eq = |wanted: &Option<String>, actual: &Option<String>| match wanted {
            None => true,
            Some(w) => actual.as_deref() == Some(w.as_str()),
        };
        (search.is_empty()
            || device.display_name().to_lowercase().contains(&search)
            || device.id.as_str().starts_with(&search))
            && eq(&self.os_platform, &device.os_platform)
            && eq(&self.health_status, &device.health_status)
            && eq(&self.risk_score, &device.risk_score)
            && eq(&self.exposure_level, &device.exposure_level)
            && eq(&self.group, &device.rbac_group_name)
            && self
                .tag
                .as_ref()
                .is_none_or(|t| device.machine_tags.iter().any(|dt| dt == t))
    }
}

sort_keys! {
    /// The device table's columns.
    pub enum DeviceSortKey {
        Name => "name", Ascending;
        Os => "os", Ascending;
        Health => "health", Ascending;
        Risk => "risk", Descending;
        Exposure => "exposure", Descending;
        LastSeen => "lastseen", Descending;
    }
    /// By name.
    default Name, Ascending;
}

/// Up to this many devices the table renders every row (browser find sees every device);
/// above, it renders the rows in view (`row_window`). A device row costs ~0.4 ms to build, so
/// the whole table stays under half a second once per load, and filtering, sorting and
/// selecting only touch the rows that change. 10,000 rows whole took 3.8 s.
pub const WHOLE_TABLE_MAX_ROWS: usize = 1_000;

/// `devices` with each device ID once (its first record kept). Paging by `$skip` while the
/// tenant's device list changes can return a device on two pages; the list, its count and the
/// table's rows (keyed by device ID) all want it once.
pub fn without_duplicate_ids(devices: Vec<Device>) -> Vec<Device> {
    let mut seen = std::collections::HashSet::with_capacity(devices.len());
    devices
        .into_iter()
        .filter(|d| seen.insert(d.id.clone()))
        .collect()
}

/// The devices matching `filter`, in `sort` order (ties broken by name, then ID, so the order
/// is total and stable across reloads).
///
/// Sort texts (the lower-cased name, the OS summary) are built once per device, not once per
/// comparison (10,000 devices, native release build: 13 ms before, 3 ms after).
pub fn filter_and_sort<'a>(
    devices: &'a [Device],
    filter: &DeviceFilter,
    sort: Sort<DeviceSortKey>,
) -> Vec<&'a Device> {
    struct Row<'a> {
        device: &'a Device,
        name: String,
        os: String,
    }
    let mut rows: Vec<Row<'a>> = devices
        .iter()
        .filter(|d| filter.matches(d))
        .map(|device| Row {
            device,
            name: device.display_name().to_lowercase(),
            os: if sort.key == DeviceSortKey::Os {
                device.os_summary()
            } else {
                String::new()
            },
        })
        .collect();
    crate::sort::sort_by(&mut rows, |x, y| {
        let (a, b) = (x.device, y.device);
        let primary = match sort.key {
            DeviceSortKey::Name => std::cmp::Ordering::Equal,
            DeviceSortKey::Os => x.os.cmp(&y.os),
            DeviceSortKey::Health => a.health_status.cmp(&b.health_status),
            DeviceSortKey::Risk => {
                risk_rank(a.risk_score.as_deref()).cmp(&risk_rank(b.risk_score.as_deref()))
            }
            DeviceSortKey::Exposure => exposure_rank(a.exposure_level.as_deref())
                .cmp(&exposure_rank(b.exposure_level.as_deref())),
            DeviceSortKey::LastSeen => a.last_seen.cmp(&b.last_seen),
        };
        let by_name = x.name.cmp(&y.name).then_with(|| a.id.cmp(&b.id));
        sort.direction.apply(primary.then(by_name))
    });
    rows.into_iter().map(|row| row.device).collect()
}

/// Distinct values with their device counts, for the filter drop-downs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceFacets {
    pub os_platforms: Vec<(String, usize)>,
    pub health_statuses: Vec<(String, usize)>,
    pub risk_scores: Vec<(String, usize)>,
    pub exposure_levels: Vec<(String, usize)>,
    pub tags: Vec<(String, usize)>,
    pub groups: Vec<(String, usize)>,
}

impl DeviceFacets {
    pub fn of(devices: &[Device]) -> Self {
        fn count<'a>(values: impl Iterator<Item = &'a String>) -> Vec<(String, usize)> {
            let mut counts = BTreeMap::<&str, usize>::new();
            for v in values {
                *counts.entry(v.as_str()).or_default() += 1;
            }
            counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect()
        }
        let mut risk = count(devices.iter().filter_map(|d| d.risk_score.as_ref()));
        crate::sort::sort_by_cached_key(&mut risk, |(v, _)| risk_rank(Some(v)));
        let mut exposure = count(devices.iter().filter_map(|d| d.exposure_level.as_ref()));
        crate::sort::sort_by_cached_key(&mut exposure, |(v, _)| exposure_rank(Some(v)));
        Self {
            os_platforms: count(devices.iter().filter_map(|d| d.os_platform.as_ref())),
            health_statuses: count(devices.iter().filter_map(|d| d.health_status.as_ref())),
            risk_scores: risk,
            exposure_levels: exposure,
            tags: count(devices.iter().flat_map(|d| d.machine_tags.iter())),
            groups: count(devices.iter().filter_map(|d| d.rbac_group_name.as_ref())),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::device::DeviceId;
    use crate::sort::{SortDirection, SortKey};

    pub(crate) fn device(n: u8, name: &str, os: &str, risk: &str, tags: &[&str]) -> Device {
        Device {
            id: DeviceId::parse(&format!("{:040x}", n)).unwrap(),
            computer_dns_name: Some(name.into()),
            first_seen: None,
            last_seen: None,
            os_platform: Some(os.into()),
            version: None,
            os_build: None,
            os_architecture: None,
            health_status: Some("Active".into()),
            risk_score: Some(risk.into()),
            exposure_level: None,
            device_value: None,
            onboarding_status: Some("Onboarded".into()),
            rbac_group_name: None,
            machine_tags: tags.iter().map(|t| t.to_string()).collect(),
            last_ip_address: None,
        }
    }

    #[test]
    fn a_device_on_two_pages_is_listed_once_with_its_first_record() {
        let devices = without_duplicate_ids(vec![
            device(1, "a", "Windows11", "Low", &[]),
            device(2, "b", "Windows11", "Low", &[]),
            device(1, "a-moved", "Windows11", "High", &[]),
        ]);
        let names: Vec<_> = devices.iter().map(|d| d.display_name()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    fn fleet() -> Vec<Device> {
        vec![
            device(1, "beta.contoso.local", "Windows11", "High", &["VIP"]),
            device(2, "alpha.contoso.local", "Windows10", "Low", &[]),
            device(
                3,
                "Gamma.contoso.local",
                "Windows11",
                "Medium",
                &["VIP", "Lab"],
            ),
            device(4, "delta.contoso.local", "macOS", "None", &[]),
        ]
    }

    fn names(rows: &[&Device]) -> Vec<String> {
        rows.iter().map(|d| d.display_name().to_owned()).collect()
    }

    #[test]
    fn filters_combine() {
        let devices = fleet();
        let filter = DeviceFilter {
            os_platform: Some("Windows11".into()),
            tag: Some("VIP".into()),
            ..Default::default()
        };
        let rows = filter_and_sort(&devices, &filter, Sort::default());
        assert_eq!(names(&rows), ["beta.contoso.local", "Gamma.contoso.local"]);
        let filter = DeviceFilter {
            search: "GAMMA".into(),
            ..Default::default()
        };
        assert_eq!(filter_and_sort(&devices, &filter, Sort::default()).len(), 1);
    }

    #[test]
    fn sorting_by_risk_uses_severity_not_alphabet() {
        let devices = fleet();
        let rows = filter_and_sort(
            &devices,
            &DeviceFilter::default(),
            Sort::new(DeviceSortKey::Risk, SortDirection::Descending),
        );
        assert_eq!(
            names(&rows),
            [
                "beta.contoso.local",
                "Gamma.contoso.local",
                "alpha.contoso.local",
                "delta.contoso.local"
            ]
        );
    }

    proptest::proptest! {
        /// Same order as comparing the devices' own fields on every comparison (the plain
        /// version the prepared sort texts replaced), for every column and direction.
        #[test]
        fn sorting_matches_the_plain_comparison(
            specs in proptest::collection::vec(
                (0u8..40, "[aAbB]{1,3}", 0usize..3, 0usize..4),
                0..30,
            ),
            key in 0usize..6,
            descending in proptest::bool::ANY,
        ) {
            let devices: Vec<Device> = specs
                .iter()
                .map(|(n, name, os, risk)| {
                    device(*n, name, ["Windows11", "Windows10", "macOS"][*os], ["None", "Low", "Medium", "High"][*risk], &[])
                })
                .collect();
            let devices = without_duplicate_ids(devices);
            let sort = Sort::new(
                DeviceSortKey::ALL[key],
                if descending { SortDirection::Descending } else { SortDirection::Ascending },
            );
            let mut expected: Vec<&Device> = devices.iter().collect();
            expected.sort_by(|a, b| {
                let primary = match sort.key {
                    DeviceSortKey::Name => std::cmp::Ordering::Equal,
                    DeviceSortKey::Os => a.os_summary().cmp(&b.os_summary()),
                    DeviceSortKey::Health => a.health_status.cmp(&b.health_status),
                    DeviceSortKey::Risk => risk_rank(a.risk_score.as_deref())
                        .cmp(&risk_rank(b.risk_score.as_deref())),
                    DeviceSortKey::Exposure => exposure_rank(a.exposure_level.as_deref())
                        .cmp(&exposure_rank(b.exposure_level.as_deref())),
                    DeviceSortKey::LastSeen => a.last_seen.cmp(&b.last_seen),
                };
                let by_name = a
                    .display_name()
                    .to_lowercase()
                    .cmp(&b.display_name().to_lowercase())
                    .then_with(|| a.id.cmp(&b.id));
                sort.direction.apply(primary.then(by_name))
            });
            let got = filter_and_sort(&devices, &DeviceFilter::default(), sort);
            let ids = |rows: &[&Device]| rows.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
            proptest::prop_assert_eq!(ids(&got), ids(&expected));
        }
    }

    #[test]
    fn facets_count_values() {
        let facets = DeviceFacets::of(&fleet());
        assert_eq!(facets.tags, vec![("Lab".into(), 1), ("VIP".into(), 2)]);
        assert_eq!(facets.risk_scores[0].0, "None");
        assert_eq!(facets.risk_scores[3].0, "High");
    }
}
