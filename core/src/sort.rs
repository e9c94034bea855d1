//! Sort order shared by the device and KB tables, its URL form (`name-asc`), and the one
//! sort routine every table goes through.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Sorts `items` by `compare`, stably.
///
/// Every list in kbwatch is sorted through here rather than with `slice::sort_by`: the
/// standard sort is generic over the element and the comparator, so each call site used to
/// add its own copy of it to the wasm (~60 KB in all). Here it runs once, on positions, with
/// one comparator type ([`sort_positions`]); the items are then moved into that order.
pub fn sort_by<T>(items: &mut Vec<T>, mut compare: impl FnMut(&T, &T) -> Ordering) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    sort_positions(&mut order, &mut |a, b| compare(&items[a], &items[b]));
    put_in_order(items, &order);
}

/// Sorts `items` by the key `key` computes, once per item, stably.
pub fn sort_by_cached_key<T, K: Ord>(items: &mut Vec<T>, key: impl Fn(&T) -> K) {
    let keys: Vec<K> = items.iter().map(key).collect();
    let mut order: Vec<usize> = (0..items.len()).collect();
    sort_positions(&mut order, &mut |a, b| keys[a].cmp(&keys[b]));
    put_in_order(items, &order);
}

/// Rearranges `items` so that item `order[i]` comes `i`th (`order` is a permutation).
fn put_in_order<T>(items: &mut Vec<T>, order: &[usize]) {
    let mut slots: Vec<Option<T>> = std::mem::take(items).into_iter().map(Some).collect();
    items.extend(order.iter().filter_map(|&i| slots[i].take()));
}

/// Sorts positions into some list by `compare`, stably: the single instantiation of the
/// standard library's sort in the app.
pub fn sort_positions(positions: &mut [usize], compare: &mut dyn FnMut(usize, usize) -> Ordering) {
    positions.sort_by(|&a, &b| compare(a, b));
}

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

/// Declares a table's column enum: each column's name in the URL (`name-asc`) and the
/// direction its first click sorts in, plus the table's default sort. One declaration per table,
/// so a column cannot be added without its URL name.
///
/// ```text
/// sort_keys! {
///     /// Columns of the example table.
///     pub enum ExampleSortKey {
///         Name => "name", Ascending;
///         Cves => "cves", Descending;
///     }
///     /// Most CVEs first.
///     default Cves, Descending;
/// }
/// ```
macro_rules! sort_keys {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $variant:ident => $url:literal, $direction:ident; )+
        }
        $(#[$default_meta:meta])*
        default $default:ident, $default_direction:ident;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $variant, )+
        }

        impl $crate::sort::SortKey for $name {
            const ALL: &'static [Self] = &[$( Self::$variant ),+];

            fn url_name(self) -> &'static str {
                match self {
                    $( Self::$variant => $url, )+
                }
            }

            fn default_direction(self) -> $crate::sort::SortDirection {
                match self {
                    $( Self::$variant => $crate::sort::SortDirection::$direction, )+
                }
            }
        }

        $(#[$default_meta])*
        impl Default for $crate::sort::Sort<$name> {
            fn default() -> Self {
                Self::new($name::$default, $crate::sort::SortDirection::$default_direction)
            }
        }
    };
}
pub(crate) use sort_keys;

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every column of `K` reads back from the URL form it writes, in both directions, and no
    /// two columns share a URL name.
    fn every_key_round_trips<K: SortKey + fmt::Debug>() {
        for (i, &key) in K::ALL.iter().enumerate() {
            assert!(
                K::ALL[..i].iter().all(|k| k.url_name() != key.url_name()),
                "{key:?}"
            );
            for direction in [SortDirection::Ascending, SortDirection::Descending] {
                let sort = Sort::new(key, direction);
                assert_eq!(sort.to_string().parse::<Sort<K>>(), Ok(sort));
            }
        }
    }

    #[test]
    fn sort_keys_of_every_table_round_trip_through_the_url() {
        every_key_round_trips::<crate::kb_list::KbSortKey>();
        every_key_round_trips::<crate::device_list::DeviceSortKey>();
        every_key_round_trips::<crate::fleet::aggregate::FleetKbSortKey>();
        every_key_round_trips::<crate::fleet::aggregate::FleetDeviceSortKey>();
        assert_eq!(
            Sort::<crate::kb_list::KbSortKey>::default().to_string(),
            "cves-desc"
        );
        assert_eq!(
            Sort::<crate::device_list::DeviceSortKey>::default().to_string(),
            "name-asc"
        );
        assert_eq!(
            "lastseen-desc"
                .parse::<Sort<crate::device_list::DeviceSortKey>>()
                .map(|s| s.key),
            Ok(crate::device_list::DeviceSortKey::LastSeen)
        );
        assert!("name-up"
            .parse::<Sort<crate::kb_list::KbSortKey>>()
            .is_err());
        assert!("name".parse::<Sort<crate::kb_list::KbSortKey>>().is_err());
    }

    proptest! {
        /// Same order as the standard library's stable sort, ties included.
        #[test]
        fn sort_by_matches_the_standard_stable_sort(
            items in proptest::collection::vec((0u8..6, any::<u16>()), 0..200)
        ) {
            let mut ours = items.clone();
            sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
            let mut standard = items;
            standard.sort_by_key(|a| a.0);
            prop_assert_eq!(ours, standard);
        }

        #[test]
        fn sort_by_cached_key_matches_the_standard_one(
            items in proptest::collection::vec("[a-cA-C]{0,3}", 0..100)
        ) {
            let mut ours = items.clone();
            sort_by_cached_key(&mut ours, |s| s.to_lowercase());
            let mut standard = items;
            standard.sort_by_cached_key(|s| s.to_lowercase());
            prop_assert_eq!(ours, standard);
        }
    }
}
