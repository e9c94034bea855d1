//! Sort order shared by the device and KB tables, and its URL form (`name-asc`).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortDirection {
    #[default]
    Ascending,
    Descending,
}

impl SortDirection {
    pub fn reversed(self) -> Self {
        match self {
            Self::Ascending => Self::Descending,
            Self::Descending => Self::Ascending,
        }
    }

    pub(crate) fn apply(self, ordering: std::cmp::Ordering) -> std::cmp::Ordering {
        match self {
            Self::Ascending => ordering,
            Self::Descending => ordering.reverse(),
        }
    }
}

/// A column key plus direction. `K` is the table's column enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sort<K> {
    pub key: K,
    pub direction: SortDirection,
}

/// Column keys that have a stable name in the URL and a natural first direction.
pub trait SortKey: Copy + Eq + 'static {
    const ALL: &'static [Self];
    fn url_name(self) -> &'static str;
    /// Direction used when the user first clicks this column (numbers: biggest first).
    fn default_direction(self) -> SortDirection;
}

impl<K: SortKey> Sort<K> {
    pub fn new(key: K, direction: SortDirection) -> Self {
        Self { key, direction }
    }

    /// Clicking the active column flips it; another column starts in its natural direction.
    pub fn toggled(self, key: K) -> Self {
        if key == self.key {
            Self::new(key, self.direction.reversed())
        } else {
            Self::new(key, key.default_direction())
        }
    }
}

impl<K: SortKey> fmt::Display for Sort<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.direction {
            SortDirection::Ascending => "asc",
            SortDirection::Descending => "desc",
        };
        write!(f, "{}-{}", self.key.url_name(), dir)
    }
}

impl<K: SortKey> FromStr for Sort<K> {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (name, dir) = s.rsplit_once('-').ok_or(())?;
        let direction = match dir {
            "asc" => SortDirection::Ascending,
            "desc" => SortDirection::Descending,
            _ => return Err(()),
        };
        let key = K::ALL
            .iter()
            .copied()
            .find(|k| k.url_name() == name)
            .ok_or(())?;
        Ok(Self::new(key, direction))
    }
}
