//! The whole view in the URL query, so any view is a shareable link and Back works.
//!
//! Defaults are left out of the query; unknown keys are ignored; a value that cannot be read
//! falls back to its default and is reported, so a mangled link still opens.

use crate::device_list::{DeviceFilter, DeviceSortKey};
use crate::fleet::aggregate::{
    FleetDeviceFilter, FleetDeviceSortKey, FleetKbFilter, FleetKbSortKey,
};
use crate::kb_list::{KbFilter, KbSortKey};
use crate::sort::Sort;

/// Which page is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Page {
    /// Device list and one device's missing KBs.
    #[default]
    Devices,
    /// Which KB is missing on how many devices.
    Fleet,
    /// The unattended SOC wall display (settings in `crate::wall`).
    Wall,
    /// The connection check (`crate::connection`).
    Connection,
}

/// The query-only link to the connection check from an error message. A constant, so the
/// errors' links cost the first visit's wasm nothing; it is the view state's own encoding of
/// [`Page::Connection`] (tested). The rest of the view is not carried: Back returns to it.
pub const CONNECTION_CHECK_LINK: &str = "?view=connection";

/// Which table the fleet page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FleetTab {
    #[default]
    Kbs,
    Devices,
}

/// The fleet page's part of the URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetView {
    pub tab: FleetTab,
    pub kb_filter: FleetKbFilter,
    pub kb_sort: Sort<FleetKbSortKey>,
    pub device_filter: FleetDeviceFilter,
    pub device_sort: Sort<FleetDeviceSortKey>,
    /// The KB whose devices are listed.
    pub selected_kb: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ViewState {
    pub page: Page,
    pub fleet: FleetView,
    /// The selected device as typed or linked; validated with `DeviceRef::parse` before use.
    pub device: Option<String>,
    pub include_unmanaged: bool,
    pub device_filter: DeviceFilter,
    pub device_sort: Sort<DeviceSortKey>,
    pub kb_filter: KbFilter,
    pub kb_sort: Sort<KbSortKey>,
}

/// A query parameter that was present but unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredParam {
    pub key: String,
    pub value: String,
}

mod key {
    pub const DEVICE: &str = "device";
    pub const ALL: &str = "all";
    pub const SEARCH: &str = "q";
    pub const OS: &str = "os";
    pub const HEALTH: &str = "health";
    pub const RISK: &str = "risk";
    pub const EXPOSURE: &str = "exposure";
    pub const TAG: &str = "tag";
    pub const GROUP: &str = "group";
    pub const SORT: &str = "sort";
    pub const KB_TEXT: &str = "kbq";
    pub const PRODUCT: &str = "product";
    pub const MIN_CVE: &str = "mincve";
    pub const KB_SORT: &str = "kbsort";
    pub const PAGE: &str = "view";
    pub const FLEET_TAB: &str = "ftab";
    pub const FLEET_TEXT: &str = "fq";
    pub const FLEET_PRODUCT: &str = "fproduct";
    pub const FLEET_MIN_DEVICES: &str = "fmindev";
    pub const FLEET_MIN_CVE: &str = "fmincve";
    pub const FLEET_SORT: &str = "fsort";
    pub const FLEET_DEVICE_TEXT: &str = "fdq";
    pub const FLEET_DEVICE_SORT: &str = "fdsort";
    pub const FLEET_KB: &str = "fkb";
}

fn parse_count(v: &str) -> Result<Option<u32>, ()> {
    match v.trim() {
        "" => Ok(None),
        n => n.parse().map(Some).map_err(|_| ()),
    }
}

impl ViewState {
    /// Reads the state from decoded query pairs (later duplicates win).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (Self, Vec<IgnoredParam>) {
        let mut state = Self::default();
        let mut ignored = Vec::new();
        let non_empty = |v: &str| (!v.trim().is_empty()).then(|| v.to_owned());
        for (k, v) in pairs {
            let mut reject = || {
                ignored.push(IgnoredParam {
                    key: k.to_owned(),
                    value: v.to_owned(),
                })
            };
            match k {
                key::DEVICE => state.device = non_empty(v),
                key::ALL => match v {
                    "1" | "true" => state.include_unmanaged = true,
                    "0" | "false" => state.include_unmanaged = false,
                    _ => reject(),
                },
                key::SEARCH => state.device_filter.search = v.to_owned(),
                key::OS => state.device_filter.os_platform = non_empty(v),
                key::HEALTH => state.device_filter.health_status = non_empty(v),
                key::RISK => state.device_filter.risk_score = non_empty(v),
                key::EXPOSURE => state.device_filter.exposure_level = non_empty(v),
                key::TAG => state.device_filter.tag = non_empty(v),
                key::GROUP => state.device_filter.group = non_empty(v),
                key::SORT => match v.parse() {
                    Ok(sort) => state.device_sort = sort,
                    Err(()) => reject(),
                },
                key::KB_TEXT => state.kb_filter.text = v.to_owned(),
                key::PRODUCT => state.kb_filter.product = non_empty(v),
                key::MIN_CVE => match v.trim() {
                    "" => state.kb_filter.min_cves = None,
                    n => match n.parse() {
                        Ok(n) => state.kb_filter.min_cves = Some(n),
                        Err(_) => reject(),
                    },
                },
                key::KB_SORT => match v.parse() {
                    Ok(sort) => state.kb_sort = sort,
                    Err(()) => reject(),
                },
                key::PAGE => match v {
                    "fleet" => state.page = Page::Fleet,
                    "wall" => state.page = Page::Wall,
                    "connection" => state.page = Page::Connection,
                    "devices" => state.page = Page::Devices,
                    _ => reject(),
                },
                key::FLEET_TAB => match v {
                    "kbs" => state.fleet.tab = FleetTab::Kbs,
                    "devices" => state.fleet.tab = FleetTab::Devices,
                    _ => reject(),
                },
                key::FLEET_TEXT => state.fleet.kb_filter.text = v.to_owned(),
                key::FLEET_PRODUCT => state.fleet.kb_filter.product = non_empty(v),
                key::FLEET_MIN_DEVICES => match parse_count(v) {
                    Ok(n) => state.fleet.kb_filter.min_devices = n,
                    Err(()) => reject(),
                },
                key::FLEET_MIN_CVE => match parse_count(v) {
                    Ok(n) => state.fleet.kb_filter.min_cves = n,
                    Err(()) => reject(),
                },
                key::FLEET_SORT => match v.parse() {
                    Ok(sort) => state.fleet.kb_sort = sort,
                    Err(()) => reject(),
                },
                key::FLEET_DEVICE_TEXT => state.fleet.device_filter.text = v.to_owned(),
                key::FLEET_DEVICE_SORT => match v.parse() {
                    Ok(sort) => state.fleet.device_sort = sort,
                    Err(()) => reject(),
                },
                key::FLEET_KB => state.fleet.selected_kb = non_empty(v),
                _ => {}
            }
        }
        (state, ignored)
    }

    /// Decoded query pairs, defaults omitted, in a fixed order.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        let mut push = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                pairs.push((k, v));
            }
        };
        let f = &self.device_filter;
        let kf = &self.kb_filter;
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        push(key::DEVICE, self.device.clone());
        push(key::ALL, self.include_unmanaged.then(|| "1".to_owned()));
        push(key::SEARCH, text(&f.search));
        push(key::OS, f.os_platform.clone());
        push(key::HEALTH, f.health_status.clone());
        push(key::RISK, f.risk_score.clone());
        push(key::EXPOSURE, f.exposure_level.clone());
        push(key::TAG, f.tag.clone());
        push(key::GROUP, f.group.clone());
        push(
            key::SORT,
            (self.device_sort != Sort::default()).then(|| self.device_sort.to_string()),
        );
        push(key::KB_TEXT, text(&kf.text));
        push(key::PRODUCT, kf.product.clone());
        push(key::MIN_CVE, kf.min_cves.map(|n| n.to_string()));
        push(
            key::KB_SORT,
            (self.kb_sort != Sort::default()).then(|| self.kb_sort.to_string()),
        );
        let fleet = &self.fleet;
        push(
            key::PAGE,
            match self.page {
                Page::Devices => None,
                Page::Fleet => Some("fleet".to_owned()),
                Page::Wall => Some("wall".to_owned()),
                Page::Connection => Some("connection".to_owned()),
            },
        );
        push(
            key::FLEET_TAB,
            (fleet.tab == FleetTab::Devices).then(|| "devices".to_owned()),
        );
        push(key::FLEET_TEXT, text(&fleet.kb_filter.text));
        push(key::FLEET_PRODUCT, fleet.kb_filter.product.clone());
        push(
            key::FLEET_MIN_DEVICES,
            fleet.kb_filter.min_devices.map(|n| n.to_string()),
        );
        push(
            key::FLEET_MIN_CVE,
            fleet.kb_filter.min_cves.map(|n| n.to_string()),
        );
        push(
            key::FLEET_SORT,
            (fleet.kb_sort != Sort::default()).then(|| fleet.kb_sort.to_string()),
        );
        push(key::FLEET_DEVICE_TEXT, text(&fleet.device_filter.text));
        push(
            key::FLEET_DEVICE_SORT,
            (fleet.device_sort != Sort::default()).then(|| fleet.device_sort.to_string()),
        );
        push(key::FLEET_KB, fleet.selected_kb.clone());
        pairs
    }

    /// The encoded query string without `?` (empty when everything is default).
    pub fn to_query(&self) -> String {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.to_pairs() {
            serializer.append_pair(k, &v);
        }
        serializer.finish()
    }

    /// Parses an encoded query string, with or without the leading `?`.
    pub fn from_query(query: &str) -> (Self, Vec<IgnoredParam>) {
        let query = query.strip_prefix('?').unwrap_or(query);
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        Self::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sort::{SortDirection, SortKey};
    use proptest::prelude::*;

    #[test]
    fn defaults_make_an_empty_query() {
        assert_eq!(ViewState::default().to_query(), "");
        assert_eq!(ViewState::from_query(""), (ViewState::default(), vec![]));
    }

    #[test]
    fn bad_values_are_reported_not_fatal() {
        let (state, ignored) = ViewState::from_query("?mincve=lots&kbsort=cves-up&device=x&zzz=1");
        assert_eq!(state.device.as_deref(), Some("x"));
        assert_eq!(state.kb_filter.min_cves, None);
        assert_eq!(ignored.len(), 2);
        assert_eq!(ignored[0].key, "mincve");
    }

    #[test]
    fn the_connection_check_has_its_own_link() {
        let (state, ignored) = ViewState::from_query("view=connection");
        assert!(ignored.is_empty());
        assert_eq!(state.page, Page::Connection);
        assert_eq!(format!("?{}", state.to_query()), CONNECTION_CHECK_LINK);
    }

    #[test]
    fn a_typical_link_reads_back() {
        let (state, ignored) = ViewState::from_query(
            "device=1e5bc9d7e413ddd7902c2932e418702b84d0cc07&kbq=KB45&product=windows_10&mincve=10&kbsort=kb-asc&os=Windows11",
        );
        assert!(ignored.is_empty());
        assert_eq!(state.kb_filter.text, "KB45");
        assert_eq!(
            state.kb_sort,
            Sort::new(KbSortKey::Kb, SortDirection::Ascending)
        );
        assert_eq!(
            state.device_filter.os_platform.as_deref(),
            Some("Windows11")
        );
    }

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(
            "\\PC{1,12}".prop_filter("non-blank", |s: &String| !s.trim().is_empty()),
        )
    }

    fn sort<K: SortKey + std::fmt::Debug>() -> impl Strategy<Value = Sort<K>> {
        (0..K::ALL.len(), any::<bool>()).prop_map(|(i, desc)| {
            Sort::new(
                K::ALL[i],
                if desc {
                    SortDirection::Descending
                } else {
                    SortDirection::Ascending
                },
            )
        })
    }

    prop_compose! {
        fn fleet_view()(
            devices_tab in any::<bool>(), text in "\\PC{0,12}", product in opt_text(),
            min_devices in proptest::option::of(any::<u32>()), min_cves in proptest::option::of(any::<u32>()),
            kb_sort in sort::<FleetKbSortKey>(), device_text in "\\PC{0,12}",
            device_sort in sort::<FleetDeviceSortKey>(), selected_kb in opt_text(),
        ) -> FleetView {
            FleetView {
                tab: if devices_tab { FleetTab::Devices } else { FleetTab::Kbs },
                kb_filter: FleetKbFilter { text, product, min_devices, min_cves },
                kb_sort,
                device_filter: FleetDeviceFilter { text: device_text },
                device_sort,
                selected_kb,
            }
        }
    }

    prop_compose! {
        fn view_state()(
            device in opt_text(), include_unmanaged in any::<bool>(),
            search in "\\PC{0,12}", os in opt_text(), health in opt_text(), risk in opt_text(),
            exposure in opt_text(), tag in opt_text(), group in opt_text(),
            device_sort in sort::<DeviceSortKey>(), text in "\\PC{0,12}", product in opt_text(),
            min_cves in proptest::option::of(any::<u32>()), kb_sort in sort::<KbSortKey>(),
            fleet in fleet_view(), page in prop_oneof![Just(Page::Devices), Just(Page::Fleet), Just(Page::Wall), Just(Page::Connection)],
        ) -> ViewState {
            ViewState {
                page, fleet,
                device, include_unmanaged,
                device_filter: DeviceFilter { search, os_platform: os, health_status: health,
                    risk_score: risk, exposure_level: exposure, tag, group },
                device_sort,
                kb_filter: KbFilter { text, product, min_cves },
                kb_sort,
            }
        }
    }

    proptest! {
        #[test]
        fn round_trips_through_the_query(state in view_state()) {
            let query = state.to_query();
            let (back, ignored) = ViewState::from_query(&query);
            prop_assert!(ignored.is_empty(), "{:?}", ignored);
            prop_assert_eq!(back, state);
        }

        #[test]
        fn any_query_parses_without_panic(query in "\\PC{0,80}") {
            let _ = ViewState::from_query(&query);
        }
    }
}
