//! HTTP to core types: the one HTTP helper of the app.
//!
//! Every call carries the bearer token, is aborted after the configured timeout, and turns
//! any non-2xx answer, network failure or unreadable body into an [`ApiError`].

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use futures::future::LocalBoxFuture;
use gloo_net::http::Request;
use gloo_timers::callback::Timeout;
use kbwatch_core::api_error::{MalformedBody, MAX_THROTTLE_WAITS};
use kbwatch_core::config::StartupProblem;
use kbwatch_core::device_list::without_duplicate_ids;
use kbwatch_core::endpoints::VulnerabilityFilter;
use kbwatch_core::fallback::KbSource;
use kbwatch_core::fleet::bulk::MachineVulnerability;
use kbwatch_core::fleet::storage_keys::StorageScope;
use kbwatch_core::odata::{next_page, NextPage};
use kbwatch_core::overview::{DrillDown, DrillDownBuilder};
use kbwatch_core::software::{Software, SoftwareId};
use kbwatch_core::KbId;
use kbwatch_core::{
    ApiError, Collection, Device, DeviceId, DeviceRef, Endpoints, MachineQuery, MissingKb,
    ODataPage, PageRequest,
};
use leptos::prelude::WithUntracked;
use serde::de::DeserializeOwned;
use url::Url;
use web_sys::{AbortController, RequestCache, RequestRedirect, ResponseType};

use crate::auth::TokenSource;

mod fallback;

/// A safety net against servers whose paging never ends.
const MAX_PAGES: usize = 1_000;

/// `config.json`, next to index.html, always fresh from the host (no HTTP cache: an admin's
/// correction shows on the next reload).
pub async fn config_json() -> Result<String, StartupProblem> {
    let unreachable = |e: gloo_net::Error| StartupProblem::Unreachable {
        status: None,
        reason: network_reason(&e),
    };
    let response = Request::get("config.json")
        .cache(RequestCache::NoCache)
        .send()
        .await
        .map_err(unreachable)?;
    if !response.ok() {
        return Err(StartupProblem::Unreachable {
            status: Some(response.status()),
            reason: String::new(),
        });
    }
    response.text().await.map_err(unreachable)
}

/// Waited on before each page of a long read: the caller's rate budget.
pub type Gate = dyn Fn() -> LocalBoxFuture<'static, ()>;

/// What a paging loop waits for: up to `throttle` 429s in a row (exactly `Retry-After` each),
/// and the caller's budget before each page.
#[derive(Clone, Copy)]
struct Waits<'a> {
    throttle: u32,
    gate: Option<&'a Gate>,
}

impl<'a> Waits<'a> {
    /// Callers with their own scheduler: no waiting at all.
    const NONE: Self = Self {
        throttle: 0,
        gate: None,
    };

    /// A long read on its own: 429s waited out, each page within the budget.
    fn gated(gate: &'a Gate) -> Self {
        Self {
            throttle: MAX_THROTTLE_WAITS,
            gate: Some(gate),
        }
    }
}

#[derive(Clone)]
pub struct ApiClient {
    endpoints: Endpoints,
    tokens: TokenSource,
    timeout_secs: u32,
    device_page_size: u32,
    /// The per-device `getmissingkbs` answered this 403 in this session.
    per_device_refused: Arc<Mutex<Option<ApiError>>>,
    /// MSAL: the configured tenant and client ID (a pasted token names its own).
    registration: Option<Arc<(String, String)>>,
}

impl ApiClient {
    pub fn new(
        endpoints: Endpoints,
        tokens: TokenSource,
        timeout_secs: u32,
        device_page_size: u32,
    ) -> Self {
        Self {
            endpoints,
            tokens,
            timeout_secs,
            device_page_size,
            per_device_refused: Arc::default(),
            registration: None,
        }
    }

    /// The app registration the calls are made through (MSAL mode).
    pub fn with_registration(mut self, tenant_id: &str, client_id: &str) -> Self {
        self.registration = Some(Arc::new((tenant_id.to_owned(), client_id.to_owned())));
        self
    }

    /// Whose stored fleet data and call history the calls add to (read when needed: a
    /// replaced token may be someone else's).
    pub fn storage_scope(&self) -> StorageScope {
        let registration = self.registration.as_deref();
        let tenant = registration.map(|(t, _)| t.as_str());
        let client = registration.map(|(_, c)| c.as_str());
        match self.tokens {
            TokenSource::Demo => StorageScope::demo(),
            TokenSource::Pasted(token) => token.with_untracked(|t| {
                let info = t.as_ref().map(|t| &t.info);
                StorageScope::new(
                    info.and_then(|i| i.tenant_id.as_deref()),
                    info.and_then(|i| i.subject.as_deref()),
                    info.and_then(|i| i.client_id.as_deref()),
                )
            }),
            TokenSource::Msal(account) => {
                account.with_untracked(|a| StorageScope::new(tenant, a.as_deref(), client))
            }
        }
    }

    pub fn tokens(&self) -> TokenSource {
        self.tokens
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// All devices matching `query`, following `@odata.nextLink` or `$skip` until done.
    /// A 404 is the API's way of saying "no machines": an empty list, not an error.
    pub async fn devices(&self, query: MachineQuery) -> Result<Collection<Device>, ApiError> {
        let first = PageRequest::first(self.device_page_size);
        let collection = self.endpoints.machines_collection();
        match self
            .collection(
                self.endpoints.machines(query, first),
                &collection,
                Some(first),
                |request| self.endpoints.machines(query, request),
            )
            .await
        {
            Err(ApiError::NotFound(_)) => Ok(Collection::default()),
            Ok(mut devices) => {
                devices.items = without_duplicate_ids(devices.items);
                Ok(devices)
            }
            Err(e) => Err(e),
        }
    }

    /// One device by ID or computer name.
    pub async fn device(&self, device: &DeviceRef) -> Result<Device, ApiError> {
        let body = self.get(&self.endpoints.machine(device)).await?;
        // Through `Value`, as every collection record is read: one instance of the device
        // parser in the wasm instead of two.
        let value: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| ApiError::Malformed(MalformedBody::from_json_error(&body, &e)))?;
        serde_json::from_value(value)
            .map_err(|e| ApiError::Malformed(MalformedBody::WrongShape(e.to_string())))
    }

    /// The seed endpoint: missing KBs of one device (following a nextLink if one comes).
    pub async fn missing_kbs(&self, id: &DeviceId) -> Result<Collection<MissingKb>, ApiError> {
        self.unpaged(self.endpoints.missing_kbs(id)).await
    }

    /// One device's missing KBs: the per-device call, or, once the API has refused it (403:
    /// its page documents an application permission only, so a user's token may never get
    /// it), the device's `machinesVulnerabilities` rows grouped by KB. After one refusal the
    /// client asks the fallback straight away for the rest of the session: one call a device
    /// either way.
    pub async fn device_kbs(
        &self,
        id: &DeviceId,
    ) -> Result<(Collection<MissingKb>, KbSource), ApiError> {
        let refused = self.per_device_refused.lock().ok().and_then(|r| r.clone());
        let refusal = match refused {
            Some(refusal) => refusal,
            None => match self.missing_kbs(id).await {
                Ok(kbs) => return Ok((kbs, KbSource::MissingKbs)),
                Err(refusal @ ApiError::Forbidden { .. }) => {
                    if let Ok(mut r) = self.per_device_refused.lock() {
                        *r = Some(refusal.clone());
                    }
                    refusal
                }
                Err(e) => return Err(e),
            },
        };
        match self.kbs_from_vulnerabilities(id).await {
            Ok(kbs) => Ok((kbs, KbSource::MachineVulnerabilities)),
            // Refused too: the first refusal names the permission the admin looks for.
            Err(ApiError::Forbidden { .. }) => Err(refusal),
            Err(e) => Err(e),
        }
    }

    /// Every page of `machinesVulnerabilities` under `filter`, each handed to `on_page`.
    async fn vulnerabilities_where<T: DeserializeOwned>(
        &self,
        filter: &VulnerabilityFilter,
        on_page: &mut dyn FnMut(ODataPage<T>),
        waits: Waits<'_>,
    ) -> Result<usize, ApiError> {
        let first = PageRequest::first(kbwatch_core::odata::MAX_TOP);
        let collection = self.endpoints.machine_vulnerabilities_collection();
        self.pages(
            self.endpoints.machine_vulnerabilities_where(filter, first),
            &collection,
            Some(first),
            |request| {
                self.endpoints
                    .machine_vulnerabilities_where(filter, request)
            },
            on_page,
            waits,
        )
        .await
    }

    /// The device's `machinesVulnerabilities` rows (`$filter=machineId eq '…'`), grouped by
    /// the KB that fixes them. The rows are read as plain JSON here; reading them as
    /// vulnerability records and grouping them is code of its own (a chunk under `split`), so
    /// the first visit does not carry it.
    async fn kbs_from_vulnerabilities(
        &self,
        id: &DeviceId,
    ) -> Result<Collection<MissingKb>, ApiError> {
        let mut rows: Vec<serde_json::Value> = Vec::new();
        let mut skipped = Vec::new();
        let filter = VulnerabilityFilter::Device(id.clone());
        let pages = self
            .vulnerabilities_where(
                &filter,
                &mut |page: ODataPage<serde_json::Value>| {
                    rows.extend(page.items);
                    skipped.extend(page.skipped);
                },
                Waits::NONE,
            )
            .await?;
        let items = fallback::group_rows(id.clone(), rows)
            .await
            .map_err(|_| ApiError::Network(fallback::CODE_UNAVAILABLE.to_owned()))?;
        Ok(Collection {
            items,
            skipped,
            pages,
        })
    }

    /// The tenant's software of `vendor` (every page; each waits on `gate`).
    pub async fn software(
        &self,
        vendor: Option<&str>,
        gate: &Gate,
    ) -> Result<Collection<Software>, ApiError> {
        let first = PageRequest::first(kbwatch_core::odata::MAX_TOP);
        let collection = self.endpoints.software_collection();
        let mut result = Collection::default();
        result.pages = self
            .pages(
                self.endpoints.software(vendor, first),
                &collection,
                Some(first),
                |request| self.endpoints.software(vendor, request),
                &mut |page: ODataPage<Software>| {
                    result.items.extend(page.items);
                    result.skipped.extend(page.skipped);
                },
                Waits::gated(gate),
            )
            .await?;
        Ok(result)
    }

    /// One product's missing KBs, `machineMissedOn` being the devices missing each.
    pub async fn software_missing_kbs(
        &self,
        id: &SoftwareId,
    ) -> Result<Collection<MissingKb>, ApiError> {
        self.unpaged(self.endpoints.software_missing_kbs(id)).await
    }

    /// The devices missing `kb`, from every page of its `machinesVulnerabilities` rows
    /// (folded page by page: memory grows with devices, not rows; each page waits on `gate`).
    pub async fn kb_drill_down(&self, kb: &KbId, gate: &Gate) -> Result<DrillDown, ApiError> {
        let mut builder = DrillDownBuilder::new(kb.clone());
        self.vulnerabilities_where(
            &VulnerabilityFilter::FixingKb(kb.clone()),
            &mut |page: ODataPage<MachineVulnerability>| builder.add_rows(&page.items),
            Waits::gated(gate),
        )
        .await?;
        Ok(builder.finish())
    }

    /// The bulk path: every page of `machinesVulnerabilities`, each handed to `on_page` as it
    /// arrives so memory stays bounded by what the caller keeps.
    pub async fn machine_vulnerabilities(
        &self,
        gate: &Gate,
        mut on_page: impl FnMut(ODataPage<MachineVulnerability>),
    ) -> Result<usize, ApiError> {
        let first = PageRequest::first(kbwatch_core::odata::MAX_TOP);
        let collection = self.endpoints.machine_vulnerabilities_collection();
        self.pages(
            self.endpoints.machine_vulnerabilities(first),
            &collection,
            Some(first),
            |request| self.endpoints.machine_vulnerabilities(request),
            &mut on_page,
            Waits::gated(gate),
        )
        .await
    }

    /// One GET for the connection check, as the endpoint answers the token as it is: no
    /// retry, no forced token refresh, no paging (so one call is one call of the budget).
    pub async fn probe(&self, url: &Url) -> Result<String, ApiError> {
        let token = self.tokens.bearer(false).await?;
        self.send(url, &token).await
    }

    /// A list the API documents without paging: read whole, following a nextLink if one
    /// comes anyway.
    async fn unpaged<T: DeserializeOwned>(&self, url: Url) -> Result<Collection<T>, ApiError> {
        self.collection(url.clone(), &url, None, |_| url.clone())
            .await
    }

    async fn collection<T: DeserializeOwned>(
        &self,
        first_url: Url,
        collection_url: &Url,
        request: Option<PageRequest>,
        url_for: impl Fn(PageRequest) -> Url,
    ) -> Result<Collection<T>, ApiError> {
        let mut result = Collection::default();
        let pages = self
            .pages(
                first_url,
                collection_url,
                request,
                url_for,
                &mut |page: ODataPage<T>| {
                    result.items.extend(page.items);
                    result.skipped.extend(page.skipped);
                },
                Waits::NONE,
            )
            .await?;
        result.pages = pages;
        Ok(result)
    }

    /// Follows `@odata.nextLink` or `$skip` until done; returns the number of pages read.
    /// Up to `max_throttle_waits` 429s in a row are waited out (exactly `Retry-After`) and the
    /// same page asked again; callers with their own scheduler pass 0.
    async fn pages<T: DeserializeOwned>(
        &self,
        first_url: Url,
        collection_url: &Url,
        mut request: Option<PageRequest>,
        url_for: impl Fn(PageRequest) -> Url,
        on_page: &mut dyn FnMut(ODataPage<T>),
        waits: Waits<'_>,
    ) -> Result<usize, ApiError> {
        let Waits {
            throttle: max_throttle_waits,
            gate,
        } = waits;
        let mut pages = 0;
        let mut throttle_waits = max_throttle_waits;
        let mut url = first_url;
        loop {
            if let Some(gate) = gate {
                gate().await;
            }
            let body = match self.get(&url).await {
                Ok(body) => body,
                Err(error @ ApiError::Throttled { .. }) if throttle_waits > 0 => {
                    throttle_waits -= 1;
                    let seconds = error.auto_retry_after().unwrap_or(1).max(1);
                    gloo_timers::future::TimeoutFuture::new(seconds.saturating_mul(1000)).await;
                    continue;
                }
                // Paging by `$skip` past the last row gets the API's "no machines" 404.
                Err(ApiError::NotFound(_)) if pages > 0 => return Ok(pages),
                Err(e) => return Err(e),
            };
            let page = ODataPage::<T>::parse(&body)?;
            pages += 1;
            throttle_waits = max_throttle_waits;
            let next = match request {
                Some(r) => next_page(collection_url, r, &page)?,
                None => match &page.next_link {
                    Some(_) => next_page(collection_url, PageRequest::first(1), &page)?,
                    None => NextPage::Done,
                },
            };
            on_page(page);
            let next_url = match next {
                NextPage::Done => return Ok(pages),
                NextPage::Link(link) => link,
                NextPage::Skip(r) => {
                    request = Some(r);
                    url_for(r)
                }
            };
            if pages >= MAX_PAGES || next_url == url {
                return Ok(pages);
            }
            url = next_url;
        }
    }

    /// GET with bearer token and timeout; the body of a 2xx answer. A 401 earns one forced
    /// token refresh and one retry when the token source can refresh.
    async fn get(&self, url: &Url) -> Result<String, ApiError> {
        let token = self.tokens.bearer(false).await?;
        match self.send(url, &token).await {
            Err(ApiError::Unauthorized(_)) if self.tokens.can_refresh() => {
                let fresh = self.tokens.bearer(true).await?;
                self.send(url, &fresh).await
            }
            other => other,
        }
    }

    async fn send(&self, url: &Url, token: &str) -> Result<String, ApiError> {
        let controller = AbortController::new().map_err(|_| ApiError::Network(String::new()))?;
        let timed_out = Rc::new(Cell::new(false));
        let _timer = {
            let controller = controller.clone();
            let timed_out = timed_out.clone();
            Timeout::new(self.timeout_secs.saturating_mul(1000), move || {
                timed_out.set(true);
                controller.abort();
            })
        };
        let failed = |e: gloo_net::Error| {
            if timed_out.get() {
                ApiError::Timeout(self.timeout_secs)
            } else {
                ApiError::Network(network_reason(&e))
            }
        };
        // A redirect is not followed (the browser would send the token along, same-origin):
        // it arrives as an opaque answer and is reported as what it is.
        let response = Request::get(url.as_str())
            .header("Authorization", &format!("Bearer {token}"))
            .header("Accept", "application/json")
            .redirect(RequestRedirect::Manual)
            .abort_signal(Some(&controller.signal()))
            .send()
            .await
            .map_err(failed)?;
        if response.type_() == ResponseType::Opaqueredirect {
            return Err(ApiError::Redirected);
        }
        let status = response.status();
        let retry_after = response.headers().get("Retry-After");
        let body = response.text().await.map_err(failed)?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(ApiError::from_response(
                status,
                retry_after.as_deref(),
                &body,
            ))
        }
    }
}

/// The browser gives no detail on failed fetches (by design, for CORS); keep what it says.
fn network_reason(error: &gloo_net::Error) -> String {
    match error {
        gloo_net::Error::JsError(js) => js.message.clone(),
        other => other.to_string(),
    }
}
