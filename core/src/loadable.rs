//! Remote data that keeps the last good value on screen while a reload runs or fails.

use crate::api_error::ApiError;

#[derive(Debug, Clone, PartialEq, Default)]
pub enum LoadStatus {
    #[default]
    Idle,
    Loading,
    /// Throttled: retrying by itself after the countdown.
    RetryingIn {
        seconds: u32,
        error: ApiError,
    },
    Failed(ApiError),
}

/// The last successfully loaded value plus what is happening now.
#[derive(Debug, Clone, PartialEq)]
pub struct Loadable<T> {
    pub value: Option<T>,
    pub status: LoadStatus,
}

impl<T> Default for Loadable<T> {
    fn default() -> Self {
        Self {
            value: None,
            status: LoadStatus::Idle,
        }
    }
}

impl<T> Loadable<T> {
    pub fn start(&mut self) {
        self.status = LoadStatus::Loading;
    }

    pub fn succeed(&mut self, value: T) {
        self.value = Some(value);
        self.status = LoadStatus::Idle;
    }

    /// A failure never discards the last good value.
    pub fn fail(&mut self, error: ApiError) {
        self.status = LoadStatus::Failed(error);
    }

    pub fn wait(&mut self, seconds: u32, error: ApiError) {
        self.status = LoadStatus::RetryingIn { seconds, error };
    }

    /// A load is running (not waiting out a 429).
    pub fn is_loading(&self) -> bool {
        self.status == LoadStatus::Loading
    }

    pub fn error(&self) -> Option<&ApiError> {
        match &self.status {
            LoadStatus::Failed(e) | LoadStatus::RetryingIn { error: e, .. } => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_keeps_last_good_value() {
        let mut data = Loadable::default();
        data.start();
        data.succeed(vec![1, 2]);
        data.start();
        assert_eq!(data.value, Some(vec![1, 2]));
        data.fail(ApiError::Timeout(30));
        assert_eq!(data.value, Some(vec![1, 2]));
        assert_eq!(data.error(), Some(&ApiError::Timeout(30)));
        data.succeed(vec![3]);
        assert_eq!(data.error(), None);
    }
}
