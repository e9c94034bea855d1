//! The release month of an update, read from its name.

use std::fmt;

/// The month an update was released, read from its name ("March 2020 Security Updates",
/// "2024-10 Cumulative Update for Windows 11").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpdateMonth {
    pub year: u16,
    /// 1 to 12.
    pub month: u8,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl UpdateMonth {
    /// `None` unless `month` is 1 to 12 and `year` a plausible update year (1990 to 2099).
    pub fn new(year: u16, month: u8) -> Option<Self> {
        ((1990..=2099).contains(&year) && (1..=12).contains(&month)).then_some(Self { year, month })
    }

    /// The first date found in an update name: an English month name (full or abbreviated)
    /// followed by a year ("March 2020", "Sep. 2021", "October, 2024"), or year-month
    /// ("2024-10", "2024/10", "2024-10-08"). `None` when the name carries no date: the
    /// update then simply has no age.
    pub fn parse(text: &str) -> Option<Self> {
        let tokens = tokens(text);
        tokens.windows(2).find_map(|pair| {
            let ((a_start, a_end), (b_start, b_end)) = (pair[0], pair[1]);
            let (a, gap, b) = (
                &text[a_start..a_end],
                &text[a_end..b_start],
                &text[b_start..b_end],
            );
            if let Some(month) = month_from_name(a) {
                let gap_ok = gap.chars().all(|c| matches!(c, ' ' | ',' | '.' | '-'));
                return gap_ok
                    .then(|| year_from(b))
                    .flatten()
                    .and_then(|year| Self::new(year, month));
            }
            let year = year_from(a)?;
            let month_ok = matches!(gap, "-" | "/" | ".")
                && (1..=2).contains(&b.len())
                && b.bytes().all(|c| c.is_ascii_digit());
            month_ok
                .then(|| b.parse().ok())
                .flatten()
                .and_then(|month| Self::new(year, month))
        })
    }
}

/// "2020-03".
impl fmt::Display for UpdateMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Byte ranges of the runs of ASCII letters and digits.
fn tokens(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_ascii_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

fn month_from_name(token: &str) -> Option<u8> {
    if token.len() < 3 || !token.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let lower = token.to_ascii_lowercase();
    if lower == "sept" {
        return Some(9);
    }
    MONTHS
        .iter()
        .position(|full| *full == lower || (lower.len() == 3 && full.starts_with(&lower)))
        .and_then(|i| u8::try_from(i + 1).ok())
}

fn year_from(token: &str) -> Option<u16> {
    (token.len() == 4 && token.bytes().all(|b| b.is_ascii_digit()))
        .then(|| token.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn month_parsing_variants() {
        let ym = |y, m| UpdateMonth::new(y, m);
        for (text, want) in [
            ("March 2020 Security Updates", ym(2020, 3)),
            (
                "2024-10 Cumulative Update for Windows 11 Version 23H2",
                ym(2024, 10),
            ),
            (
                "2023-01 Cumulative Update for .NET Framework 3.5 and 4.8",
                ym(2023, 1),
            ),
            ("Security update released 2021/7 for Office", ym(2021, 7)),
            ("Sep. 2021 Security Updates", ym(2021, 9)),
            ("Sept 2019 Update", ym(2019, 9)),
            ("Security Updates for october, 2024", ym(2024, 10)),
            ("2022-06-14 rollup", ym(2022, 6)),
            ("DECEMBER 2018 Monthly Rollup", ym(2018, 12)),
            ("Windows 10 Version 22H2", None),
            ("Windows Server 2019 May Update", None),
            ("2024-13 Cumulative Update", None),
            ("Mayday 2020", None),
            ("Mar2020", None),
            ("", None),
            ("Ünïcödé März 2020 — 2020-05", ym(2020, 5)),
        ] {
            assert_eq!(UpdateMonth::parse(text), want, "{text}");
        }
        assert_eq!(
            ym(2020, 3).map(|m| m.to_string()).as_deref(),
            Some("2020-03")
        );
        assert!(ym(2020, 3) < ym(2020, 11));
        assert!(ym(2019, 12) < ym(2020, 1));
    }

    proptest! {
        #[test]
        fn month_parsing_never_panics(text in ".{0,60}") {
            let _ = UpdateMonth::parse(&text);
        }
    }
}
