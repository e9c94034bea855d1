//! Which rows of a long table are rendered: the ones in view plus a few either side. Tables
//! longer than their limit scroll in a box of fixed-height rows, and empty spacer rows stand
//! in for the rest, so the scroll bar and `aria-rowcount` still describe the whole table.

use std::ops::Range;

/// Rows rendered above and below the visible ones, so a short scroll shows no gap.
pub const OVERSCAN: usize = 4;

/// The rows to render of a `total`-row table whose box, `viewport_px` tall, is scrolled
/// `scroll_top_px` down, each row `row_height_px` tall.
///
/// Always as many rows as fill the box (plus overscan) when the table has them, and never past
/// the end, even while the box still reports the scroll position of a longer list.
pub fn visible_rows(
    total: usize,
    scroll_top_px: f64,
    viewport_px: f64,
    row_height_px: f64,
) -> Range<usize> {
    let row_height = row_height_px.max(1.0);
    let count = (viewport_px.max(0.0) / row_height).ceil() as usize + 2 * OVERSCAN;
    let first = ((scroll_top_px.max(0.0) / row_height) as usize)
        .saturating_sub(OVERSCAN)
        .min(total.saturating_sub(count));
    first..(first + count).min(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_top_of_a_long_table() {
        assert_eq!(visible_rows(2_000, 0.0, 440.0, 44.0), 0..18);
    }

    #[test]
    fn scrolled_down_keeps_overscan_above() {
        assert_eq!(visible_rows(2_000, 4_400.0, 440.0, 44.0), 96..114);
    }

    #[test]
    fn a_scroll_position_past_a_shorter_list_shows_its_end() {
        assert_eq!(visible_rows(50, 44_000.0, 440.0, 44.0), 32..50);
    }

    proptest! {
        #[test]
        fn the_rows_in_view_are_always_rendered(
            total in 0usize..5_000,
            scroll_rows in 0usize..6_000,
            viewport_rows in 1usize..40,
        ) {
            let height = 44.0;
            // The browser clamps scrollTop to the content: scrolled at most to the last row.
            let max_scroll = total.saturating_sub(viewport_rows);
            let scroll = scroll_rows.min(max_scroll);
            let range = visible_rows(
                total,
                scroll as f64 * height,
                viewport_rows as f64 * height,
                height,
            );
            prop_assert!(range.end <= total);
            prop_assert!(range.start <= scroll);
            prop_assert!(range.end >= (scroll + viewport_rows).min(total));
            prop_assert!(range.len() <= viewport_rows + 2 * OVERSCAN);
        }
    }
}
