//! What a load hands the views: the records of a paged collection with what could not be read,
//! and a device together with its missing KBs.

use crate::device::Device;
use crate::fallback::KbSource;
use crate::kb::MissingKb;

/// Everything read from one paged collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection<T> {
    pub items: Vec<T>,
    /// Records the API sent that could not be read (with the reason).
    pub skipped: Vec<String>,
    pub pages: usize,
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            skipped: Vec::new(),
            pages: 0,
        }
    }
}

/// A device with its missing KBs, as the device view shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceKbs {
    pub device: Device,
    pub kbs: Collection<MissingKb>,
    /// Where the list came from (and so what it lacks).
    pub source: KbSource,
}
