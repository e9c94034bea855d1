//! A deterministic discrete-event simulation of a fleet scan against a server that enforces the
//! API's limits (100 calls per minute and 1,500 per hour, sliding windows) and injects 429s with
//! `Retry-After`, 5xx answers and latency. `FleetScan` drives it on a simulated clock.
//!
//! The simulator lives in `sim` so `examples/scan_simulation.rs` can print the same figures
//! next to a naive baseline (`cargo run -p kbwatch-core --example scan_simulation`).

pub mod sim {
    use std::cmp::Reverse;
    use std::collections::{BTreeSet, BinaryHeap, HashSet, VecDeque};
    use std::fmt;

    use kbwatch_core::fleet::rate::{HOUR_MS, MINUTE_MS};
    use kbwatch_core::fleet::scan::{CallOutcome, FleetScan, ScanFailure, ScanPolicy, ScanStep};
    use kbwatch_core::DeviceId;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// The simulated Defender API.
    #[derive(Debug, Clone)]
    pub struct ServerConfig {
        pub per_minute: u32,
        pub per_hour: u32,
        /// Share of calls answered 429 regardless of load (other apps of the tenant, …).
        pub injected_throttle_rate: f64,
        pub retry_after_secs: (u32, u32),
        /// Share of calls answered 5xx.
        pub server_error_rate: f64,
        /// Round trip; the request reaches the server after half of it.
        pub latency_ms: (u64, u64),
    }

    impl Default for ServerConfig {
        fn default() -> Self {
            Self {
                per_minute: 100,
                per_hour: 1_500,
                injected_throttle_rate: 0.02,
                retry_after_secs: (1, 30),
                server_error_rate: 0.03,
                latency_ms: (100, 800),
            }
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Answer {
        Ok,
        Throttled(u32),
        ServerError,
    }

    struct Server {
        config: ServerConfig,
        rng: SmallRng,
        /// Arrival times of the last hour (all calls count, answered or refused).
        window: VecDeque<u64>,
        /// Every arrival, for the window statistics.
        arrivals: Vec<u64>,
        violations: u64,
        injected_throttles: u64,
        limit_throttles: u64,
        server_errors: u64,
    }

    impl Server {
        fn new(config: ServerConfig, seed: u64) -> Self {
            Self {
                config,
                rng: SmallRng::seed_from_u64(seed),
                window: VecDeque::new(),
                arrivals: Vec::new(),
                violations: 0,
                injected_throttles: 0,
                limit_throttles: 0,
                server_errors: 0,
            }
        }

        /// A call arriving at `t` (arrivals come in time order).
        fn handle(&mut self, t: u64) -> Answer {
            self.arrivals.push(t);
            self.window.push_back(t);
            while self.window.front().is_some_and(|&s| s + HOUR_MS <= t) {
                self.window.pop_front();
            }
            // Calls in (t - W, t], this one included; over the limit → refused until the
            // oldest of them leaves the window.
            let mut wait_ms = 0;
            for (window_ms, limit) in [
                (MINUTE_MS, self.config.per_minute),
                (HOUR_MS, self.config.per_hour),
            ] {
                let first = self.window.partition_point(|&s| s + window_ms <= t);
                let count = self.window.len() - first;
                if count > limit as usize {
                    let oldest = self.window[self.window.len() - limit as usize];
                    wait_ms = wait_ms.max(oldest + window_ms - t);
                }
            }
            if wait_ms > 0 {
                self.violations += 1;
                self.limit_throttles += 1;
                return Answer::Throttled(wait_ms.div_ceil(1_000) as u32);
            }
            let roll: f64 = self.rng.random();
            if roll < self.config.injected_throttle_rate {
                self.injected_throttles += 1;
                let (lo, hi) = self.config.retry_after_secs;
                return Answer::Throttled(self.rng.random_range(lo..=hi));
            }
            if roll < self.config.injected_throttle_rate + self.config.server_error_rate {
                self.server_errors += 1;
                return Answer::ServerError;
            }
            Answer::Ok
        }

        fn latency(&mut self) -> u64 {
            let (lo, hi) = self.config.latency_ms;
            self.rng.random_range(lo..=hi)
        }
    }

    /// Most events of any window of `window_ms` (`times` ascending).
    pub fn max_in_window(times: &[u64], window_ms: u64) -> usize {
        let mut first = 0;
        let mut best = 0;
        for last in 0..times.len() {
            while times[last] - times[first] >= window_ms {
                first += 1;
            }
            best = best.max(last - first + 1);
        }
        best
    }

    /// What a run produced.
    #[derive(Debug, Clone)]
    pub struct Figures {
        pub label: String,
        pub devices: usize,
        pub simulated_ms: u64,
        pub calls: u64,
        pub injected_429: u64,
        /// 429s the server gave because a limit was exceeded (each one a violation).
        pub limit_429: u64,
        pub server_errors: u64,
        pub retries: u64,
        pub violations: u64,
        /// As the server saw them (arrival times: latency jitter can bunch calls up).
        pub max_calls_60s: usize,
        pub max_calls_3600s: usize,
        /// As the client started them (what the budget controls).
        pub max_starts_60s: usize,
        pub max_starts_3600s: usize,
        /// Whole hours of the run, and the calls started in them: the achieved rate is
        /// measured over these only, since the last, partial hour is as short as the tail.
        pub full_hours: u64,
        pub calls_in_full_hours: u64,
        pub with_data: usize,
        pub failed: usize,
        pub cancelled: usize,
        /// Devices neither answered nor recorded as failed or cancelled (must be 0).
        pub unaccounted: usize,
        pub failures: Vec<(DeviceId, ScanFailure)>,
        pub stopped_early: bool,
        /// `FleetScan`'s ETA when the run started, and at the time half the devices were
        /// settled together with the time that was actually left then.
        pub eta_at_start_ms: Option<u64>,
        pub eta_at_half: Option<(u64, u64)>,
    }

    impl Figures {
        /// What any run reads off the server and its own start times; the run's outcome
        /// (answers, failures, retries, ETA) starts empty for the caller to fill in.
        fn measured(
            label: String,
            devices: usize,
            now: u64,
            calls: u64,
            server: &Server,
            starts: &[u64],
        ) -> Self {
            Self {
                label,
                devices,
                simulated_ms: now,
                calls,
                injected_429: server.injected_throttles,
                limit_429: server.limit_throttles,
                server_errors: server.server_errors,
                retries: 0,
                violations: server.violations,
                max_calls_60s: max_in_window(&server.arrivals, MINUTE_MS),
                max_calls_3600s: max_in_window(&server.arrivals, HOUR_MS),
                max_starts_60s: max_in_window(starts, MINUTE_MS),
                max_starts_3600s: max_in_window(starts, HOUR_MS),
                full_hours: now / HOUR_MS,
                calls_in_full_hours: 0,
                with_data: 0,
                failed: 0,
                cancelled: 0,
                unaccounted: 0,
                failures: Vec::new(),
                stopped_early: false,
                eta_at_start_ms: None,
                eta_at_half: None,
            }
        }

        /// Calls (answered with data or an error) per full hour.
        pub fn achieved_per_hour(&self) -> Option<f64> {
            (self.full_hours > 0).then(|| self.calls_in_full_hours as f64 / self.full_hours as f64)
        }
    }

    fn duration(ms: u64) -> String {
        let s = ms / 1_000;
        format!("{}h{:02}m{:02}s", s / 3_600, s / 60 % 60, s % 60)
    }

    impl fmt::Display for Figures {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let rate = self
                .achieved_per_hour()
                .map_or("n/a (under an hour)".to_owned(), |r| {
                    format!("{r:.0}/h over {} full h", self.full_hours)
                });
            writeln!(f, "{}", self.label)?;
            writeln!(f, "  devices               {}", self.devices)?;
            writeln!(f, "  simulated duration    {}", duration(self.simulated_ms))?;
            writeln!(f, "  calls                 {}", self.calls)?;
            writeln!(
                f,
                "  429 injected / limit  {} / {}",
                self.injected_429, self.limit_429
            )?;
            writeln!(f, "  5xx                   {}", self.server_errors)?;
            writeln!(f, "  retries               {}", self.retries)?;
            writeln!(f, "  limit violations      {}", self.violations)?;
            writeln!(
                f,
                "  max calls in 60 s     {} at the server, {} started by the client",
                self.max_calls_60s, self.max_starts_60s
            )?;
            writeln!(
                f,
                "  max calls in 3600 s   {} at the server, {} started by the client",
                self.max_calls_3600s, self.max_starts_3600s
            )?;
            writeln!(f, "  achieved rate         {rate}")?;
            writeln!(
                f,
                "  devices: data / failed / cancelled / unaccounted   {} / {} / {} / {}",
                self.with_data, self.failed, self.cancelled, self.unaccounted
            )?;
            if let Some(eta) = self.eta_at_start_ms {
                writeln!(f, "  ETA at start          {}", duration(eta))?;
            }
            if let Some((eta, actual)) = self.eta_at_half {
                writeln!(
                    f,
                    "  ETA at half way       {} (actually {})",
                    duration(eta),
                    duration(actual)
                )?;
            }
            if self.stopped_early {
                writeln!(f, "  stopped at the first 429")?;
            }
            Ok(())
        }
    }

    pub fn device_ids(n: usize) -> Vec<DeviceId> {
        (0..n)
            .map(|i| DeviceId::parse(&format!("{i:040x}")).expect("40 hex digits"))
            .collect()
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Event {
        Timer,
        Arrival(usize),
        Response(usize),
    }

    struct Call {
        device: DeviceId,
        started: u64,
        latency: u64,
        answer: Option<Answer>,
    }

    /// Runs `FleetScan` over `devices` devices against the simulated server.
    pub fn run_fleet_scan(
        devices: usize,
        policy: ScanPolicy,
        server: ServerConfig,
        seed: u64,
    ) -> Figures {
        let ids = device_ids(devices);
        let mut scan = FleetScan::new(ids.clone(), policy, seed);
        let mut server = Server::new(server, seed ^ 0x5eed);
        let mut events: BinaryHeap<Reverse<(u64, u64, Event)>> = BinaryHeap::new();
        let mut seq = 0u64;
        let mut push = |events: &mut BinaryHeap<_>, at: u64, event: Event| {
            seq += 1;
            events.push(Reverse((at, seq, event)));
        };
        let mut timers = BTreeSet::new();
        let mut calls: Vec<Call> = Vec::new();
        let mut with_data = HashSet::new();
        let mut now = 0u64;
        let eta_at_start_ms = scan.progress(now).eta_ms;
        let mut half_way: Option<(u64, u64)> = None;
        'run: loop {
            loop {
                match scan.next(now) {
                    ScanStep::Start(device) => {
                        let latency = server.latency();
                        push(&mut events, now + latency / 2, Event::Arrival(calls.len()));
                        calls.push(Call {
                            device,
                            started: now,
                            latency,
                            answer: None,
                        });
                    }
                    ScanStep::WaitUntil(at) => {
                        assert!(at > now, "WaitUntil({at}) at {now}");
                        if timers.insert(at) {
                            push(&mut events, at, Event::Timer);
                        }
                        break;
                    }
                    ScanStep::Busy | ScanStep::Paused => break,
                    ScanStep::Done => break 'run,
                }
            }
            let Some(Reverse((at, _, event))) = events.pop() else {
                panic!("the scan stalled at {now} ms: {:?}", scan.progress(now));
            };
            now = at;
            match event {
                Event::Timer => {
                    timers.remove(&at);
                }
                Event::Arrival(call) => {
                    calls[call].answer = Some(server.handle(now));
                    let back = calls[call].latency - calls[call].latency / 2;
                    push(&mut events, now + back, Event::Response(call));
                }
                Event::Response(call) => {
                    let device = calls[call].device.clone();
                    let outcome = match calls[call].answer {
                        Some(Answer::Ok) => {
                            with_data.insert(device.clone());
                            CallOutcome::Ok
                        }
                        Some(Answer::Throttled(secs)) => CallOutcome::Throttled {
                            retry_after_secs: Some(secs),
                        },
                        Some(Answer::ServerError) | None => CallOutcome::Transient(
                            kbwatch_core::ApiError::from_response(503, None, ""),
                        ),
                    };
                    scan.report(&device, outcome, now);
                    if half_way.is_none() && with_data.len() * 2 >= devices {
                        let eta = scan.progress(now).eta_ms.unwrap_or(0);
                        half_way = Some((now, eta));
                    }
                }
            }
        }

        let progress = scan.progress(now);
        let failures = scan.failures();
        let cancelled = scan.cancelled();
        let unaccounted = ids
            .iter()
            .filter(|id| {
                !with_data.contains(*id)
                    && !failures.iter().any(|(f, _)| f == *id)
                    && !cancelled.contains(id)
            })
            .count();
        assert_eq!(progress.done, with_data.len());
        let starts: Vec<u64> = calls.iter().map(|c| c.started).collect();
        let full_hours = now / HOUR_MS;
        let calls_in_full_hours = calls
            .iter()
            .filter(|c| c.started < full_hours * HOUR_MS)
            .count() as u64;
        Figures {
            retries: scan.stats().retries,
            calls_in_full_hours,
            with_data: with_data.len(),
            failed: failures.len(),
            cancelled: cancelled.len(),
            unaccounted,
            failures,
            eta_at_start_ms,
            eta_at_half: half_way.map(|(at, eta)| (eta, now - at)),
            ..Figures::measured(
                format!(
                    "FleetScan ({}/min, {}/h, concurrency {})",
                    policy.per_minute, policy.per_hour, policy.concurrency
                ),
                devices,
                now,
                calls.len() as u64,
                &server,
                &starts,
            )
        }
    }

    /// The baseline: one call at a time, as fast as answers come, no budget, stopping at the
    /// first 429 (a 5xx is recorded and skipped). Devices after the stop are unaccounted.
    pub fn run_naive(devices: usize, server: ServerConfig, seed: u64) -> Figures {
        let mut server = Server::new(server, seed ^ 0x5eed);
        let mut now = 0u64;
        let (mut calls, mut with_data, mut failed) = (0u64, 0usize, 0usize);
        let mut stopped_early = false;
        let mut starts = Vec::new();
        for _ in 0..devices {
            starts.push(now);
            let latency = server.latency();
            let answer = server.handle(now + latency / 2);
            now += latency;
            calls += 1;
            match answer {
                Answer::Ok => with_data += 1,
                Answer::ServerError => failed += 1,
                Answer::Throttled(_) => {
                    stopped_early = true;
                    break;
                }
            }
        }
        let full_hours = now / HOUR_MS;
        Figures {
            calls_in_full_hours: if full_hours > 0 { calls } else { 0 },
            with_data,
            failed,
            unaccounted: devices - with_data - failed,
            stopped_early,
            ..Figures::measured(
                "naive (sequential, stops at the first 429)".to_owned(),
                devices,
                now,
                calls,
                &server,
                &starts,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sim::*;
    use kbwatch_core::fleet::scan::{ScanFailure, ScanPolicy};
    use proptest::prelude::*;

    /// The scenario: 5,000 devices at the default budget against the documented limits
    /// with 2 % random 429s (Retry-After 1–30 s), 3 % 5xx and 100–800 ms latency.
    #[test]
    fn five_thousand_devices_within_the_limits() {
        let policy = ScanPolicy::default();
        let figures = run_fleet_scan(5_000, policy, ServerConfig::default(), 2024);
        println!("{figures}");

        assert_eq!(figures.violations, 0, "calls over a limit");
        assert!(figures.max_calls_60s <= 100 && figures.max_calls_3600s <= 1_500);
        // The client's own budget holds exactly; at the server, latency jitter may bunch a few
        // calls together, which is what the margin under 100/min and 1,500/h is for.
        assert!(figures.max_starts_60s <= policy.per_minute as usize);
        assert!(figures.max_starts_3600s <= policy.per_hour as usize);

        assert_eq!(figures.unaccounted, 0);
        assert_eq!(figures.with_data + figures.failed, 5_000);
        // Only 429s and 5xx are injected: a device fails only by running out of attempts.
        assert!(figures
            .failures
            .iter()
            .all(|(_, why)| matches!(why, ScanFailure::GaveUp { .. })));

        // The faults really happened, and were retried.
        assert!(figures.injected_429 > 50 && figures.server_errors > 100);
        assert_eq!(figures.retries, figures.calls - 5_000);
        assert_eq!(
            figures.calls,
            5_000 + figures.injected_429 + figures.server_errors - figures.failed as u64
        );

        let rate = figures.achieved_per_hour().expect("the run lasts hours");
        assert!(
            rate >= 0.95 * policy.per_hour as f64,
            "achieved {rate:.0}/h, budget {}/h",
            policy.per_hour
        );
    }

    /// A hostile server: a third of the calls fail. Devices run out of attempts, and each one
    /// that does is recorded with its error; nothing is dropped and no limit is broken.
    #[test]
    fn heavy_faults_end_in_recorded_errors() {
        let policy = ScanPolicy {
            max_attempts: 3,
            ..ScanPolicy::default()
        };
        let server = ServerConfig {
            injected_throttle_rate: 0.08,
            server_error_rate: 0.25,
            ..ServerConfig::default()
        };
        let figures = run_fleet_scan(600, policy, server, 7);
        println!("{figures}");
        assert_eq!(figures.violations, 0);
        assert_eq!(figures.unaccounted, 0);
        assert_eq!(figures.with_data + figures.failed, 600);
        assert!(figures.failed > 0);
        assert!(figures
            .failures
            .iter()
            .all(|(_, why)| matches!(why, ScanFailure::GaveUp { attempts: 3, .. })));
    }

    #[test]
    fn the_naive_scan_stops_early() {
        let naive = run_naive(5_000, ServerConfig::default(), 2024);
        println!("{naive}");
        assert!(naive.stopped_early);
        assert!(naive.unaccounted > 4_000);
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 24,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Small fleets with tight budgets (so both windows bind), random faults and seeds:
        /// never over a limit, never a device unaccounted for.
        #[test]
        fn small_fleets_never_break_a_limit(
            devices in 1usize..40,
            per_minute in 2u32..8,
            per_hour in 8u32..30,
            concurrency in 1usize..6,
            throttle in 0.0f64..0.2,
            errors in 0.0f64..0.3,
            seed in any::<u64>(),
        ) {
            let policy = ScanPolicy { per_minute, per_hour, concurrency, max_attempts: 4, ..ScanPolicy::default() };
            let server = ServerConfig {
                per_minute,
                per_hour,
                injected_throttle_rate: throttle,
                server_error_rate: errors,
                // Same round trip each time, so the server sees the client's spacing exactly.
                latency_ms: (300, 300),
                ..ServerConfig::default()
            };
            let figures = run_fleet_scan(devices, policy, server, seed);
            prop_assert_eq!(figures.violations, 0);
            prop_assert_eq!(figures.unaccounted, 0);
            prop_assert_eq!(figures.with_data + figures.failed, devices);
            prop_assert!(figures.max_starts_60s <= per_minute as usize);
            prop_assert!(figures.max_starts_3600s <= per_hour as usize);
        }
    }
}
