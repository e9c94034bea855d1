//! The fleet overview by the per-product path, and the drill-down of one KB to its devices.
//!
//! `GET /api/Software?$filter=vendor eq 'microsoft'` names the products, then one
//! `GET /api/Software/{id}/getmissingkbs` per product gives every missing KB with the number of
//! devices missing it (tenant-wide, within the user's device-group scope): the fleet's answer in
//! 1 + products calls instead of one call per device. A drill-down reads
//! `machinesVulnerabilities?$filter=fixingKbId eq '…'` for the exact devices of one KB. Every
//! call spends the session's budget (`FleetScanner::spend_one`).

use futures::future::LocalBoxFuture;
use kbwatch_core::api_error::MAX_THROTTLE_WAITS;
use kbwatch_core::overview::{DrillDown, ProductOverview};
use kbwatch_core::{ApiError, KbId};
use leptos::prelude::*;

use crate::api::ApiClient;
use crate::clock::now_ms;
use crate::fleet_scan::FleetScanner;
use crate::remote::Remote;

/// The vendor whose products have KBs: other vendors' updates are not KBs.
const KB_VENDOR: &str = "microsoft";

/// Reactive handle on the per-product overview and the open drill-down; lives as long as the
/// fleet scanner (the session), so leaving the fleet page keeps what was read.
#[derive(Clone, Copy)]
pub struct ProductScan {
    pub overview: Remote<ProductOverview>,
    /// Products read and products to read, while the overview loads.
    pub progress: RwSignal<Option<(usize, usize)>>,
    /// The drill-down on screen: its KB and its devices.
    pub drill_kb: RwSignal<Option<KbId>>,
    pub drill: Remote<DrillDown>,
    /// The Microsoft products of the tenant, once `/api/Software` was read (for the planner).
    pub products: RwSignal<Option<u64>>,
    scanner: FleetScanner,
    client: StoredValue<ApiClient>,
}

impl ProductScan {
    pub fn new(client: ApiClient, scanner: FleetScanner) -> Self {
        Self {
            overview: Remote::new(),
            progress: RwSignal::new(None),
            drill_kb: RwSignal::new(None),
            drill: Remote::new(),
            products: RwSignal::new(None),
            scanner,
            client: StoredValue::new(client),
        }
    }

    /// The gate every page of these reads waits on: one call of the session's budget.
    fn gate(self) -> impl Fn() -> LocalBoxFuture<'static, ()> {
        move || Box::pin(async move { self.scanner.spend_one().await })
    }

    /// Reads the overview (again): 1 + products calls.
    pub fn load(&self) {
        let this = *self;
        self.overview.load(move || async move {
            let client = this.client.get_value();
            let gate = this.gate();
            let software = client.software(Some(KB_VENDOR), &gate).await?;
            let total = software.items.len();
            this.products.set(Some(total as u64));
            this.progress.set(Some((0, total)));
            let mut overview = ProductOverview::new();
            for (done, product) in software.items.iter().enumerate() {
                let mut throttled = 0;
                let kbs = loop {
                    gate().await;
                    match client.software_missing_kbs(&product.id).await {
                        Ok(kbs) => break kbs.items,
                        // A product listed a moment ago and gone now: nothing to add.
                        Err(ApiError::NotFound(_)) => break Vec::new(),
                        // Others share the tenant's budget: wait as told, ask this one again.
                        Err(e @ ApiError::Throttled { .. }) if throttled < MAX_THROTTLE_WAITS => {
                            throttled += 1;
                            let secs = e.auto_retry_after().unwrap_or(1).max(1);
                            this.scanner.hold_until(now_ms() + u64::from(secs) * 1_000);
                        }
                        Err(e) => {
                            this.progress.set(None);
                            return Err(e);
                        }
                    }
                };
                overview.add_product(product, &kbs);
                this.progress.set(Some((done + 1, total)));
            }
            this.progress.set(None);
            Ok(overview)
        });
    }

    /// Lists the devices missing `kb` (and makes its overview figures exact).
    pub fn drill_down(&self, kb: KbId) {
        self.drill_kb.set(Some(kb.clone()));
        let this = *self;
        self.drill.load(move || {
            let kb = kb.clone();
            async move {
                let client = this.client.get_value();
                let drill = client.kb_drill_down(&kb, &this.gate()).await?;
                // The overview's figures for this KB become exact.
                this.overview.update_value(|o| {
                    o.set_drill_down(drill.clone());
                });
                Ok(drill)
            }
        });
    }

    /// Forgets the overview and the drill-down (sign-out, token replaced).
    pub fn forget(&self) {
        self.overview.clear();
        self.products.set(None);
        self.progress.set(None);
        self.close_drill_down();
    }

    pub fn close_drill_down(&self) {
        self.drill_kb.set(None);
        self.drill.clear();
    }
}
