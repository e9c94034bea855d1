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
use crate::odata::{count_param, Filter, Paging, MACHINES};
use crate::query::{param, param_ignoring_case, query_pairs};
use crate::software::{ProductFix, Software, SOFTWARE_FILTER};
use crate::vulns::{
    AssetVulnerabilityDto, MachineVulnerabilityDto, RowPins, RowRef, MACHINE_VULNERABILITY_FILTER,
};
use crate::MockState;

const MACHINES_CONTEXT: &str = "https://api.securitycenter.microsoft.com/api/$metadata#Machines";
const MACHINE_CONTEXT: &str =
    "https://api.securitycenter.microsoft.com/api/$metadata#Machines/$entity";
const MACHINES_VULNERABILITIES_CONTEXT: &str = "https://api.securitycenter.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.PublicAssetVulnerabilityDto)";
const SOFTWARE_VULNERABILITIES_CONTEXT: &str = "https://api.securitycenter.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.AssetVulnerability)";
const MACHINES_VULNERABILITIES_PATH: &str = "/api/vulnerabilities/machinesVulnerabilities";
const SOFTWARE_VULNERABILITIES_PATH: &str = "/api/machines/SoftwareVulnerabilitiesByMachine";
const SOFTWARE_CONTEXT: &str = "https://api.securitycenter.microsoft.com/api/$metadata#Software";
const SOFTWARE_ENTITY_CONTEXT: &str =
    "https://api.securitycenter.microsoft.com/api/$metadata#Software/$entity";
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

impl<'a> MissingKbDto<'a> {
    /// A KB one product misses: `productsNames` is that product alone, as in the documented
    /// example of `GET /api/Software/{id}/getmissingkbs`.
    fn for_product(kb: &'a CatalogKb, product: &'a &'static str, fix: &ProductFix) -> Self {
        Self {
            id: &kb.id,
            name: &kb.name,
            products_names: std::slice::from_ref(product),
            url: kb.url(),
            machine_missed_on: fix.machines,
            cve_addressed: fix.cves,
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

/// `http://{Host}`: links point back to this mock as the client reached it.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// Absolute link to the next page of `path`: same query and `$top`, `$skip` advanced.
fn next_link(
    headers: &HeaderMap,
    path: &str,
    pairs: &[(String, String)],
    skip: usize,
    top: Option<usize>,
) -> String {
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
    format!("{}{path}?{}", origin(headers), query.join("&"))
}

/// `GET /api/machines`.
pub(crate) async fn list_machines(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let filter = param(&pairs, "$filter")
        .map(|f| Filter::parse(f, &MACHINES))
        .transpose()?;
    let paging = Paging::parse(param(&pairs, "$top"), param(&pairs, "$skip"))?;
    let matching: Vec<&Machine> = state
        .fleet
        .machines
        .iter()
        .filter(|m| filter.as_ref().is_none_or(|f| f.matches(*m)))
        .collect();
    let page = paging.page(&matching, state.options.page_size);
    if page.is_empty() {
        return Err(ApiError::no_recent_machines());
    }
    // `$top` acts as the page size: the link keeps it and moves `$skip` past this page.
    let served = paging.skip + page.len();
    let next = (served < matching.len() && state.options.next_link)
        .then(|| next_link(&headers, "/api/machines", &pairs, served, paging.top));
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

/// `GET /api/vulnerabilities/machinesVulnerabilities` — `$filter` (eq/ne on the documented
/// properties), `$top` (page size, ≤ 10,000, also capped by `page_size`), `$skip`.
pub(crate) async fn machines_vulnerabilities(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let filter = param(&pairs, "$filter")
        .map(|f| Filter::parse(f, &MACHINE_VULNERABILITY_FILTER))
        .transpose()?;
    let paging = Paging::parse(param(&pairs, "$top"), param(&pairs, "$skip"))?;
    let page_limit = paging.limit(state.options.page_size);
    let (fleet, vulns) = (&state.fleet, &state.vulns);
    let render = |(index, row): (usize, RowRef)| {
        MachineVulnerabilityDto::from_row(&vulns.row(fleet, index, row))
    };
    let (page, more): (Vec<MachineVulnerabilityDto>, bool) = match &filter {
        None => {
            let page: Vec<_> = vulns
                .rows_from(fleet, paging.skip, false)
                .take(page_limit)
                .filter_map(render)
                .collect();
            let more = paging.skip + page.len() < vulns.totals().0;
            (page, more)
        }
        Some(filter) => {
            // Narrow by the pinned machine and KB, counting rows per device without rendering:
            // a KB drill-down visits only the devices missing that KB.
            let rows = vulns.pinned(
                fleet,
                RowPins {
                    machine: filter.pinned("machineId"),
                    kb: filter.pinned("fixingKbId"),
                },
            );
            // Pins alone decide: skip by counts, render one page. (Two different pins of one
            // property match nothing; the rendered rows then fail the filter, and the general
            // path below answers.)
            let fast = filter.only_pins(&["machineId", "fixingKbId"]).then(|| {
                let page: Vec<MachineVulnerabilityDto> = rows
                    .from(paging.skip)
                    .take(page_limit)
                    .filter_map(render)
                    .collect();
                let more = paging.skip + page.len() < rows.total();
                (page, more)
            });
            match fast {
                Some((page, more)) if page.iter().all(|dto| filter.matches(dto)) => (page, more),
                _ => {
                    let mut matching = rows
                        .from(0)
                        .filter_map(render)
                        .filter(|dto| filter.matches(dto))
                        .skip(paging.skip);
                    let page: Vec<_> = matching.by_ref().take(page_limit).collect();
                    let more = matching.next().is_some();
                    (page, more)
                }
            }
        }
    };
    let next = (more && state.options.next_link).then(|| {
        next_link(
            &headers,
            MACHINES_VULNERABILITIES_PATH,
            &pairs,
            paging.skip + page.len(),
            paging.top,
        )
    });
    Ok(odata_json(&Collection {
        context: MACHINES_VULNERABILITIES_CONTEXT,
        value: &page,
        next_link: next,
    }))
}

/// Default `pageSize` of the export.
pub const EXPORT_DEFAULT_PAGE_SIZE: usize = 50_000;
/// Largest `pageSize` (and `$top`) of the export.
pub const EXPORT_MAX_PAGE_SIZE: usize = 200_000;

/// What the export's `$skiptoken` stands for; opaque to clients (base64url JSON, shaped like the
/// real one), tied to this fleet.
fn export_time_path(state: &MockState) -> String {
    format!(
        "{}-{}-{}/mock/",
        state.options.seed, state.options.devices, state.fleet.catalog.last_month
    )
}

fn encode_skip_token(state: &MockState, offset: usize) -> String {
    use base64::Engine;
    let json = serde_json::json!({
        "ExportDefinition": { "TimePath": export_time_path(state) },
        "ExportFileIndex": 0,
        "LineStoppedAt": offset,
    });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
}

fn decode_skip_token(state: &MockState, token: &str) -> Result<usize, ApiError> {
    use base64::Engine;
    let invalid = || ApiError::invalid_input("The skip token is invalid or has expired.");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim().trim_end_matches('='))
        .map_err(|_| invalid())?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if json["ExportDefinition"]["TimePath"].as_str() != Some(&export_time_path(state)) {
        return Err(invalid());
    }
    json["LineStoppedAt"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(invalid)
}

/// `GET /api/machines/SoftwareVulnerabilitiesByMachine` — `pageSize` (default 50,000, ≤ 200,000;
/// the name is matched case-insensitively, the real nextLink writes `pagesize`), paged by
/// `@odata.nextLink` carrying an opaque `$skiptoken`; `$top` returns that many rows and no link.
pub(crate) async fn software_vulnerabilities_by_machine(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let param_ci = |key: &str| param_ignoring_case(&pairs, key);
    let page_size = param_ci("pageSize")
        .map(|v| count_param("pageSize", v, EXPORT_MAX_PAGE_SIZE))
        .transpose()?
        .unwrap_or(EXPORT_DEFAULT_PAGE_SIZE);
    let top = param_ci("$top")
        .map(|v| count_param("$top", v, EXPORT_MAX_PAGE_SIZE))
        .transpose()?;
    let offset = param_ci("$skiptoken")
        .map(|t| decode_skip_token(&state, t))
        .transpose()?
        .unwrap_or(0);
    let (fleet, vulns) = (&state.fleet, &state.vulns);
    let page: Vec<AssetVulnerabilityDto> = vulns
        .rows_from(fleet, offset, true)
        .take(top.unwrap_or(page_size))
        .map(|(index, row)| AssetVulnerabilityDto::from_row(&vulns.row(fleet, index, row)))
        .collect();
    let served = offset + page.len();
    let next = (top.is_none() && served < vulns.totals().1).then(|| {
        format!(
            "{}{SOFTWARE_VULNERABILITIES_PATH}?pageSize={page_size}&$skiptoken={}",
            origin(&headers),
            encode_skip_token(&state, served)
        )
    });
    Ok(odata_json(&Collection {
        context: SOFTWARE_VULNERABILITIES_CONTEXT,
        value: &page,
        next_link: next,
    }))
}

/// `GET /api/Software` — `$filter` (eq/ne on `id`, `name`, `vendor`), `$top` (≤ 10,000, also
/// capped by `page_size`), `$skip`. An empty page is `200` with no rows: the docs give this
/// endpoint no 404.
pub(crate) async fn list_software(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let filter = param(&pairs, "$filter")
        .map(|f| Filter::parse(f, &SOFTWARE_FILTER))
        .transpose()?;
    let paging = Paging::parse(param(&pairs, "$top"), param(&pairs, "$skip"))?;
    let matching: Vec<&Software> = state
        .software
        .entries()
        .iter()
        .filter(|s| filter.as_ref().is_none_or(|f| f.matches(*s)))
        .collect();
    let page = paging.page(&matching, state.options.page_size);
    let served = paging.skip + page.len();
    let next = (served < matching.len() && state.options.next_link)
        .then(|| next_link(&headers, "/api/Software", &pairs, served, paging.top));
    Ok(odata_json(&Collection {
        context: SOFTWARE_CONTEXT,
        value: &page,
        next_link: next,
    }))
}

/// `GET /api/Software/{id}` (the id's case ignored).
pub(crate) async fn get_software(
    State(state): State<Arc<MockState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (software, _) = state
        .software
        .get(&id)
        .ok_or_else(|| ApiError::software_not_found(&id))?;
    Ok(odata_json(&Entity {
        context: SOFTWARE_ENTITY_CONTEXT,
        entity: software,
    }))
}

/// `GET /api/Software/{id}/getmissingkbs` — the KBs that product misses, in catalog order; an
/// empty list for software no catalog KB fixes.
pub(crate) async fn software_missing_kbs(
    State(state): State<Arc<MockState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (software, fixes) = state
        .software
        .get(&id)
        .ok_or_else(|| ApiError::software_not_found(&id))?;
    let kbs: Vec<MissingKbDto> = fixes
        .iter()
        .map(|fix| MissingKbDto::for_product(&state.fleet.catalog.kbs[fix.kb], &software.name, fix))
        .collect();
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
