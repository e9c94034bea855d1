//! The SOC wall display's settings, all read from the URL so a wall is a bookmark:
//! `?view=wall&panels=tiles,kbs,devices&rotate=20&refresh=30&theme=dark` (plus the usual
//! device filter keys, and `device=` for the one-device panel).

use std::fmt;
use std::str::FromStr;

use crate::url_state::IgnoredParam;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WallPanel {
    /// Fleet summary tiles.
    Tiles,
    /// Top missing KBs by devices affected.
    TopKbs,
    /// Devices with the most CVEs addressable.
    TopDevices,
    /// One device's missing KBs (needs `device=`).
    Device,
}

impl WallPanel {
    pub const ALL: [WallPanel; 4] = [Self::Tiles, Self::TopKbs, Self::TopDevices, Self::Device];

    pub fn url_name(self) -> &'static str {
        match self {
            Self::Tiles => "tiles",
            Self::TopKbs => "kbs",
            Self::TopDevices => "devices",
            Self::Device => "device",
        }
    }
}

impl FromStr for WallPanel {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|p| p.url_name() == s.trim())
            .ok_or(())
    }
}

impl fmt::Display for WallPanel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url_name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WallTheme {
    #[default]
    Dark,
    Light,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WallSettings {
    pub panels: Vec<WallPanel>,
    /// Seconds each panel stays on screen (0 = no rotation: first panel only).
    pub rotate_secs: u32,
    /// Minutes between data refreshes.
    pub refresh_minutes: u32,
    pub theme: WallTheme,
    /// Time acceleration for soak tests (`speed=360`: a 30-minute refresh every 5 s).
    pub speed: u32,
}

impl Default for WallSettings {
    fn default() -> Self {
        Self {
            panels: vec![WallPanel::Tiles, WallPanel::TopKbs, WallPanel::TopDevices],
            rotate_secs: 20,
            refresh_minutes: 30,
            theme: WallTheme::Dark,
            speed: 1,
        }
    }
}

pub const MIN_ROTATE_SECS: u32 = 5;
pub const MIN_REFRESH_MINUTES: u32 = 1;

impl WallSettings {
    /// Reads the wall keys; unusable values keep their defaults and are reported.
    pub fn from_query(query: &str) -> (Self, Vec<IgnoredParam>) {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut settings = Self::default();
        let mut ignored = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let mut reject = || {
                ignored.push(IgnoredParam {
                    key: key.to_string(),
                    value: value.to_string(),
                })
            };
            match key.as_ref() {
                "panels" => {
                    let parsed: Result<Vec<WallPanel>, ()> = value
                        .split(',')
                        .filter(|s| !s.trim().is_empty())
                        .map(str::parse)
                        .collect();
                    match parsed {
                        Ok(mut panels) if !panels.is_empty() => {
                            let mut seen = Vec::new();
                            panels.retain(|p| {
                                let new = !seen.contains(p);
                                seen.push(*p);
                                new
                            });
                            settings.panels = panels;
                        }
                        _ => reject(),
                    }
                }
                "rotate" => match value.trim().parse::<u32>() {
                    Ok(0) => settings.rotate_secs = 0,
                    Ok(n) => settings.rotate_secs = n.clamp(MIN_ROTATE_SECS, 3600),
                    Err(_) => reject(),
                },
                "refresh" => match value.trim().parse::<u32>() {
                    Ok(n) => settings.refresh_minutes = n.clamp(MIN_REFRESH_MINUTES, 1440),
                    Err(_) => reject(),
                },
                "speed" => match value.trim().parse::<u32>() {
                    Ok(n) if (1..=3600).contains(&n) => settings.speed = n,
                    _ => reject(),
                },
                "theme" => match value.as_ref() {
                    "dark" => settings.theme = WallTheme::Dark,
                    "light" => settings.theme = WallTheme::Light,
                    _ => reject(),
                },
                _ => {}
            }
        }
        (settings, ignored)
    }

    /// Real milliseconds between refreshes.
    pub fn refresh_interval_ms(&self) -> u64 {
        u64::from(self.refresh_minutes) * 60_000 / u64::from(self.speed.max(1))
    }

    /// Real milliseconds each panel stays (0 = no rotation).
    pub fn rotate_interval_ms(&self) -> u64 {
        u64::from(self.rotate_secs) * 1_000 / u64::from(self.speed.max(1))
    }

    /// The panel to show `elapsed_ms` (real time) after the wall started.
    pub fn panel_after(&self, elapsed_ms: u64) -> Option<WallPanel> {
        let interval = self.rotate_interval_ms();
        if self.panels.is_empty() {
            return None;
        }
        if self.rotate_secs == 0 || interval == 0 {
            return self.panels.first().copied();
        }
        let index = (elapsed_ms / interval) % self.panels.len() as u64;
        self.panels.get(index as usize).copied()
    }
}

/// How many of `total` rows fit, keeping one line for "+N more" when they do not all fit.
pub fn rows_that_fit(total: usize, capacity: usize) -> (usize, usize) {
    if total <= capacity {
        (total, 0)
    } else {
        let shown = capacity.saturating_sub(1);
        (shown, total - shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_wall_is_a_bookmark() {
        let (s, ignored) = WallSettings::from_query(
            "?view=wall&panels=kbs,tiles,kbs&rotate=15&refresh=5&theme=light",
        );
        assert!(ignored.is_empty());
        assert_eq!(s.panels, vec![WallPanel::TopKbs, WallPanel::Tiles]);
        assert_eq!(
            (s.rotate_secs, s.refresh_minutes, s.theme),
            (15, 5, WallTheme::Light)
        );
    }

    #[test]
    fn bad_values_fall_back_and_are_reported() {
        let (s, ignored) = WallSettings::from_query("panels=bogus&rotate=x&refresh=0&theme=pink");
        assert_eq!(s.panels, WallSettings::default().panels);
        assert_eq!(s.refresh_minutes, MIN_REFRESH_MINUTES);
        assert_eq!(ignored.len(), 3);
        let (s, _) = WallSettings::from_query("rotate=1");
        assert_eq!(s.rotate_secs, MIN_ROTATE_SECS);
    }

    #[test]
    fn rotation_cycles_through_panels() {
        let (s, _) = WallSettings::from_query("panels=tiles,kbs,devices&rotate=10");
        let shown: Vec<_> = [0, 9, 10, 25, 30, 31]
            .iter()
            .map(|t| s.panel_after(t * 1_000).unwrap())
            .collect();
        assert_eq!(
            shown,
            [
                WallPanel::Tiles,
                WallPanel::Tiles,
                WallPanel::TopKbs,
                WallPanel::TopDevices,
                WallPanel::Tiles,
                WallPanel::Tiles
            ]
        );
        let (still, _) = WallSettings::from_query("panels=kbs,tiles&rotate=0");
        assert_eq!(still.panel_after(1_000_000), Some(WallPanel::TopKbs));
    }

    #[test]
    fn speed_scales_intervals_for_soak_tests() {
        let (s, ignored) =
            WallSettings::from_query("refresh=30&rotate=20&speed=360&panels=tiles,kbs");
        assert!(ignored.is_empty());
        assert_eq!(s.refresh_interval_ms(), 5_000);
        assert_eq!(s.rotate_interval_ms(), 55);
        assert_eq!(s.panel_after(54), Some(WallPanel::Tiles));
        assert_eq!(s.panel_after(56), Some(WallPanel::TopKbs));
        let (s, ignored) = WallSettings::from_query("speed=0");
        assert_eq!((s.speed, ignored.len()), (1, 1));
    }

    #[test]
    fn long_lists_are_cut_with_a_count() {
        assert_eq!(rows_that_fit(5, 8), (5, 0));
        assert_eq!(rows_that_fit(20, 8), (7, 13));
        assert_eq!(rows_that_fit(20, 0), (0, 20));
    }

    proptest! {
        #[test]
        fn any_query_is_safe(q in "\\PC{0,60}", t in any::<u64>()) {
            let (s, _) = WallSettings::from_query(&q);
            prop_assert!(!s.panels.is_empty());
            prop_assert!(s.panel_after(t).is_some());
        }
    }
}
