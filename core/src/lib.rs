//! Domain logic of kbwatch, free of any web dependency so it is tested natively.
//!
//! The browser app (`src/`) turns HTTP into these types and renders them; everything that
//! decides something — parsing the Defender API leniently, paging, filtering, sorting,
//! URL state, configuration — lives here.

pub mod api_error;
pub mod cloud;
pub mod collection;
pub mod config;
pub mod connection;
pub mod device;
pub mod device_list;
pub mod endpoints;
pub mod fallback;
pub mod fleet;
pub mod kb;
pub mod kb_id;
pub mod kb_list;
mod lenient;
pub mod loadable;
pub mod odata;
pub mod overview;
pub mod quote;
pub mod row_window;
pub mod sign_in;
pub mod software;
pub mod sort;
pub mod token_info;
pub mod url_state;
pub mod wall;

pub use api_error::{ApiError, ErrorDetail};
pub use cloud::Cloud;
pub use collection::{Collection, DeviceKbs};
pub use config::{AppConfig, AuthMode, ConfigError};
pub use device::{Device, DeviceId, DeviceRef, DeviceRefError};
pub use device_list::{DeviceFilter, DeviceSortKey};
pub use endpoints::{Endpoints, MachineQuery, VulnerabilityFilter};
pub use kb::MissingKb;
pub use kb_id::KbId;
pub use kb_list::{KbFilter, KbSortKey, KbTotals};
pub use loadable::{LoadStatus, Loadable};
pub use odata::{ODataPage, PageRequest};
pub use sign_in::SignInError;
pub use software::{Software, SoftwareId, SoftwareIdError};
pub use sort::{Sort, SortDirection};
pub use url_state::ViewState;
