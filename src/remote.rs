//! A reactive handle on remote data: runs a fetch job, keeps the last good value through
//! reloads and failures, retries by itself after a 429 (with a visible countdown) and
//! ignores answers that arrive after a newer load started.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use kbwatch_core::api_error::MAX_THROTTLE_WAITS;
use kbwatch_core::{ApiError, Loadable};
use leptos::prelude::*;
use leptos::task::spawn_local;

type Job<T> = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<T, ApiError>>>>>;

pub struct Remote<T: Send + Sync + 'static> {
    state: RwSignal<Loadable<T>>,
    generation: StoredValue<u64>,
    job: StoredValue<Option<Job<T>>, LocalStorage>,
}

impl<T: Send + Sync + 'static> Clone for Remote<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Remote<T> {}

impl<T: Clone + Send + Sync + 'static> Remote<T> {
    pub fn new() -> Self {
        Self {
            state: RwSignal::new(Loadable::default()),
            generation: StoredValue::new(0),
            job: StoredValue::new_local(None),
        }
    }

    /// The state for rendering.
    pub fn state(&self) -> Signal<Loadable<T>> {
        self.state.into()
    }

    /// Starts `job` now (and remembers it for [`Remote::retry`]).
    pub fn load<F, Fut>(&self, job: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<T, ApiError>> + 'static,
    {
        let job: Job<T> = Rc::new(move || Box::pin(job()));
        self.job.set_value(Some(job));
        self.run();
    }

    /// Runs the last job again (the "retry" button).
    pub fn retry(&self) {
        self.run();
    }

    /// Changes the value on screen in place (nothing when none is loaded); returns what `f`
    /// returned.
    pub fn update_value<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.state.try_update(|s| s.value.as_mut().map(f)).flatten()
    }

    /// Forgets value and job; a running job's answer is ignored.
    pub fn clear(&self) {
        self.generation.update_value(|g| *g += 1);
        self.job.set_value(None);
        self.state.set(Loadable::default());
    }

    fn run(&self) {
        let Some(job) = self.job.get_value() else {
            return;
        };
        self.generation.update_value(|g| *g += 1);
        let generation = self.generation.get_value();
        let this = *self;
        let current = move || this.generation.try_get_value() == Some(generation);
        spawn_local(async move {
            let mut throttle_waits = 0;
            loop {
                this.state.update(|s| s.start());
                let result = job().await;
                if !current() {
                    return;
                }
                match result {
                    Ok(value) => return this.state.update(|s| s.succeed(value)),
                    Err(error) => match error.auto_retry_after() {
                        Some(seconds) if throttle_waits < MAX_THROTTLE_WAITS => {
                            throttle_waits += 1;
                            for left in (1..=seconds.max(1)).rev() {
                                this.state.update(|s| s.wait(left, error.clone()));
                                TimeoutFuture::new(1_000).await;
                                if !current() {
                                    return;
                                }
                            }
                        }
                        _ => return this.state.update(|s| s.fail(error)),
                    },
                }
            }
        });
    }
}

impl<T: Clone + Send + Sync + 'static> Default for Remote<T> {
    fn default() -> Self {
        Self::new()
    }
}
