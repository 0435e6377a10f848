//! Counting AWS API calls by service and operation, with an SDK interceptor.
//!
//! Every client tether builds carries the same counter, so `--stats` and the tests see
//! every call the SDK makes on tether's behalf (retries are one call).

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Calls per `(service, operation)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub calls: BTreeMap<(String, String), u64>,
}

impl Stats {
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }

    /// Whether an operation only reads (by AWS's naming convention).
    pub fn is_read(operation: &str) -> bool {
        ["Get", "List", "Describe", "Head"]
            .iter()
            .any(|p| operation.starts_with(p))
    }

    pub fn reads(&self) -> u64 {
        self.calls
            .iter()
            .filter(|((_, op), _)| Stats::is_read(op))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn writes(&self) -> u64 {
        self.total() - self.reads()
    }

    pub fn count(&self, service: &str, operation: &str) -> u64 {
        self.calls
            .get(&(service.to_string(), operation.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// A table for `--stats`: reads and writes apart.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (title, read) in [("reads", true), ("writes", false)] {
            let rows: Vec<_> = self
                .calls
                .iter()
                .filter(|((_, op), _)| Stats::is_read(op) == read)
                .collect();
            let n: u64 = rows.iter().map(|(_, n)| **n).sum();
            out.push_str(&format!("AWS API {title}: {n}\n"));
            for ((svc, op), n) in rows {
                out.push_str(&format!("  {n:>6}  {svc}.{op}\n"));
            }
        }
        out
    }
}

/// The interceptor; clones share one count.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

impl CallCounter {
    pub fn snapshot(&self) -> Stats {
        Stats {
            calls: self.calls.lock().expect("stats lock").clone(),
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "tether-call-counter"
    }

    // Operation metadata is in the config bag from serialisation on (not before
    // execution, when only client-level configuration is loaded).
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            *self
                .calls
                .lock()
                .expect("stats lock")
                .entry((m.service().to_string(), m.name().to_string()))
                .or_default() += 1;
        }
        Ok(())
    }
}
