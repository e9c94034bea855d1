//! The app's one clock: the browser's, in milliseconds since the Unix epoch. Everything that
//! needs the time (scan scheduling, data age, token expiry, "last seen") reads it here, so a
//! test or a wall sees one consistent "now".

use std::time::Duration;

use leptos::prelude::*;
use time::OffsetDateTime;

pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    (now_ms() / 1_000) as i64
}

/// Now as a date, for formatting "last seen" and the like.
pub fn now_utc() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms()) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A signal holding [`now_ms`], refreshed every `period` for as long as the calling owner
/// lives: for texts that age ("3 min ago", "expires in 5 min", a countdown).
pub fn use_now(period: Duration) -> ReadSignal<u64> {
    let (now, set_now) = signal(now_ms());
    if let Ok(handle) = set_interval_with_handle(move || set_now.set(now_ms()), period) {
        on_cleanup(move || handle.clear());
    }
    now
}
