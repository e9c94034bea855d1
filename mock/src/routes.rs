//! The `/api` endpoints, answering with the documented JSON.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::Serialize;

use crate::catalog::CatalogKb;
use crate::errors::{ApiError, ODATA_CONTENT_TYPE};
use crate::faults::FAULT_QUERY;
use crate::fleet::Machine;
use crate::odata::{Filter, Paging, MAX_TOP};
use crate::MockState;

const MACHINES_CONTEXT: &str = "https://api.securitycenter.microsoft.com/api/$metadata#Machines";
const MACHINE_CONTEXT: &str =
    "https://api.securitycenter.microsoft.com/api/$metadata#Machines/$entity";
const MISSING_KBS_CONTEXT: &str = "https://api.securitycenter.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.PublicProductFixDto)";

/// An OData collection envelope.
#[derive(Serialize)]
struct Collection<'a, T: Serialize> {
    #[serde(rename = "@odata.context")]
    context: &'static str,
    value: &'a [T],
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
}

/// A single entity with its context.
#[derive(Serialize)]
struct Entity<'a, T: Serialize> {
    #[serde(rename = "@odata.context")]
    context: &'static str,
    #[serde(flatten)]
    entity: &'a T,
}

/// One `PublicProductFixDto` as `getmissingkbs` returns it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MissingKbDto<'a> {
    id: &'a str,
    name: &'a str,
    products_names: &'a [&'static str],
    url: String,
    machine_missed_on: u32,
    cve_addressed: u32,
}

impl<'a> From<&'a CatalogKb> for MissingKbDto<'a> {
    fn from(kb: &'a CatalogKb) -> Self {
        Self {
            id: &kb.id,
            name: &kb.name,
            products_names: &kb.products,
            url: kb.url(),
            machine_missed_on: 1,
            cve_addressed: kb.cve_addressed,
        }
    }
}

fn odata_json(body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(ODATA_CONTENT_TYPE),
            )],
            bytes,
        )
            .into_response(),
        Err(_) => ApiError::internal().into_response(),
    }
}

/// Query pairs in their original order, decoded.
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// What to escape in nextLink query values: keep OData-friendly `$ ' ( ) , / :` readable.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'=')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Absolute link to the next page: same query and `$top`, `$skip` advanced.
fn next_link(
    headers: &HeaderMap,
    pairs: &[(String, String)],
    skip: usize,
    top: Option<usize>,
) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut query: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "$skip" | "$top" | FAULT_QUERY))
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, QUERY_VALUE),
                utf8_percent_encode(v, QUERY_VALUE)
            )
        })
        .collect();
    if let Some(top) = top {
        query.push(format!("$top={top}"));
    }
    query.push(format!("$skip={skip}"));
    format!("http://{host}/api/machines?{}", query.join("&"))
}

/// `GET /api/machines`.
pub(crate) async fn list_machines(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let filter = param(&pairs, "$filter").map(Filter::parse).transpose()?;
    let paging = Paging::parse(param(&pairs, "$top"), param(&pairs, "$skip"))?;
    let matching: Vec<&Machine> = state
        .fleet
        .machines
        .iter()
        .filter(|m| filter.as_ref().is_none_or(|f| f.matches(*m)))
        .collect();
    let page_limit = paging
        .top
        .unwrap_or(MAX_TOP)
        .min(state.options.page_size.max(1));
    let page: Vec<&Machine> = matching
        .iter()
        .skip(paging.skip)
        .take(page_limit)
        .copied()
        .collect();
    if page.is_empty() {
        return Err(ApiError::no_recent_machines());
    }
    // `$top` acts as the page size: the link keeps it and moves `$skip` past this page.
    let served = paging.skip + page.len();
    let next = (served < matching.len() && state.options.next_link)
        .then(|| next_link(&headers, &pairs, served, paging.top));
    Ok(odata_json(&Collection {
        context: MACHINES_CONTEXT,
        value: &page,
        next_link: next,
    }))
}

/// `GET /api/machines/{id}` — by id or computer name.
pub(crate) async fn get_machine(
    State(state): State<Arc<MockState>>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let machine = state
        .fleet
        .by_id_or_name(&key)
        .ok_or_else(|| ApiError::machine_not_found(&key))?;
    Ok(odata_json(&Entity {
        context: MACHINE_CONTEXT,
        entity: machine,
    }))
}

/// `GET /api/machines/{id}/getmissingkbs` — by id only.
pub(crate) async fn missing_kbs(
    State(state): State<Arc<MockState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let machine = state
        .fleet
        .by_id(&id)
        .ok_or_else(|| ApiError::machine_not_found(&id))?;
    let kbs: Vec<MissingKbDto> = state.fleet.missing_kbs(machine).map(Into::into).collect();
    Ok(odata_json(&Collection {
        context: MISSING_KBS_CONTEXT,
        value: &kbs,
        next_link: None,
    }))
}

/// Any other `/api` path.
pub(crate) async fn api_fallback() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "The requested resource was not found.",
    )
}
