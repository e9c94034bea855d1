//! Query strings and form bodies as every handler reads them: decoded `key=value` pairs, kept in
//! the order the client sent them (nextLinks repeat them in that order).

/// Decoded pairs of a query string or an `application/x-www-form-urlencoded` body.
pub(crate) fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// [`pairs`] of a request's raw query, none when it has no query.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    pairs(query.unwrap_or_default().as_bytes())
}

/// The first value of `key` (case-sensitive), empty or not.
pub(crate) fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    param_by(pairs, |k| k == key)
}

/// The first value of `key`, its name matched ignoring ASCII case.
pub(crate) fn param_ignoring_case<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    param_by(pairs, |k| k.eq_ignore_ascii_case(key))
}

fn param_by(pairs: &[(String, String)], is_key: impl Fn(&str) -> bool) -> Option<&str> {
    pairs
        .iter()
        .find(|(k, _)| is_key(k))
        .map(|(_, v)| v.as_str())
}
