//! The data the pages share: the device list, the selected device with its KBs, the devices in
//! the current device filter (the fleet's and the wall's scope) and the fleet scanner. Loads
//! start when the part of the view they depend on changes, and nowhere else.

use kbwatch_core::device_list::filter_and_sort;
use kbwatch_core::sort::Sort;
use kbwatch_core::{
    ApiError, Collection, Device, DeviceId, DeviceKbs, DeviceRef, DeviceRefError, MachineQuery,
};
use leptos::prelude::*;

use crate::api::ApiClient;
use crate::context::AppContext;
use crate::fleet_scan::ScannerSlot;
use crate::remote::Remote;
use crate::view_state::ViewHandle;

/// The device the URL asks for: validated before any call, or why it cannot be used.
pub type RequestedDevice = Option<Result<DeviceRef, (String, DeviceRefError)>>;

/// Shared by every page; cheap to copy into closures.
#[derive(Clone, Copy)]
pub struct DashboardData {
    pub devices: Remote<Collection<Device>>,
    pub kbs: Remote<DeviceKbs>,
    pub requested: Memo<RequestedDevice>,
    /// The loaded devices under the device filter; `None` until the list has loaded.
    pub scope: Memo<Option<Vec<Device>>>,
    pub scanner: ScannerSlot,
}

impl DashboardData {
    pub fn new(context: &AppContext, view: ViewHandle) -> Self {
        let client = StoredValue::new(context.client.clone());
        let devices = Remote::<Collection<Device>>::new();
        // Reloaded only when the server-side query changes.
        let query = view.part(|s| MachineQuery {
            include_unmanaged: s.include_unmanaged,
        });
        Effect::new(move |_| {
            let query = query.get();
            let client = client.get_value();
            devices.load(move || {
                let client = client.clone();
                async move { client.devices(query).await }
            });
        });

        let raw = view.part(|s| s.device.clone());
        let requested = Memo::new(move |_| {
            raw.get()
                .map(|raw| DeviceRef::parse(&raw).map_err(|e| (raw.clone(), e)))
        });
        let kbs = Remote::<DeviceKbs>::new();
        Effect::new(move |_| {
            kbs.clear();
            if let Some(Ok(device)) = requested.get() {
                let client = client.get_value();
                kbs.load(move || {
                    let client = client.clone();
                    let device = device.clone();
                    let known = known_device(devices, &device);
                    async move { load_device_kbs(&client, &device, known).await }
                });
            }
        });

        let filter = view.part(|s| s.device_filter.clone());
        let scope = Memo::new(move |_| {
            let filter = filter.get();
            devices.state().with(|d| {
                d.value.as_ref().map(|c| {
                    filter_and_sort(&c.items, &filter, Sort::default())
                        .into_iter()
                        .cloned()
                        .collect::<Vec<_>>()
                })
            })
        });

        let data = Self {
            devices,
            kbs,
            requested,
            scope,
            scanner: ScannerSlot::new(context.client.clone(), context.config.fleet),
        };
        data.refresh_every(context.config.auto_refresh_minutes);
        data
    }

    /// Reloads the device list and the selected device.
    pub fn refresh(&self) {
        self.devices.retry();
        self.kbs.retry();
    }

    /// The device whose KBs are loaded.
    pub fn selected_id(&self) -> Signal<Option<DeviceId>> {
        let kbs = self.kbs;
        Signal::derive(move || {
            kbs.state()
                .with(|s| s.value.as_ref().map(|d| d.device.id.clone()))
        })
    }

    fn refresh_every(&self, minutes: u32) {
        if minutes == 0 {
            return;
        }
        let this = *self;
        let period = std::time::Duration::from_secs(u64::from(minutes) * 60);
        if let Ok(handle) = set_interval_with_handle(move || this.refresh(), period) {
            on_cleanup(move || handle.clear());
        }
    }
}

/// The device's record from the loaded list, so its KB view needs no lookup call.
fn known_device(devices: Remote<Collection<Device>>, device: &DeviceRef) -> Option<Device> {
    let DeviceRef::Id(id) = device else {
        return None;
    };
    devices.state().with_untracked(|d| {
        d.value
            .as_ref()?
            .items
            .iter()
            .find(|x| &x.id == id)
            .cloned()
    })
}

/// The device (from the list when already known, else by ID or computer name) and its KBs.
/// With a device ID, both requests start at once: the first KB table does not wait for the
/// device header's call.
async fn load_device_kbs(
    client: &ApiClient,
    device: &DeviceRef,
    known: Option<Device>,
) -> Result<DeviceKbs, ApiError> {
    match (known, device) {
        (Some(device), _) => {
            let (kbs, source) = client.device_kbs(&device.id).await?;
            Ok(DeviceKbs {
                device,
                kbs,
                source,
            })
        }
        (None, DeviceRef::Id(id)) => {
            let (device, kbs) = futures::join!(client.device(device), client.device_kbs(id));
            let (kbs, source) = kbs?;
            Ok(DeviceKbs {
                device: device?,
                kbs,
                source,
            })
        }
        (None, DeviceRef::ComputerName(_)) => {
            let device = client.device(device).await?;
            let (kbs, source) = client.device_kbs(&device.id).await?;
            Ok(DeviceKbs {
                device,
                kbs,
                source,
            })
        }
    }
}
