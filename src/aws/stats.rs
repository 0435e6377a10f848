//! Counting AWS API calls by service and operation, with an SDK interceptor.
//!
//! Every client tether builds carries the same counter — the STS client that assumes
//! the accounts' roles included (see `session.rs`) — so `--stats` and the tests see every
//! call the SDK makes on tether's behalf (retries are one call). Calls fall in three
//! classes: session calls (STS: who am I, assume a role), reads, and writes; a call whose
//! operation is unknown counts as a write, so that "nothing was written" is never claimed
//! for a call that was not understood.

use super::error::{Call, FailedCall};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
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

    /// The class of a call: STS session calls, reads (by AWS's naming convention:
    /// `Get`, `List`, `Describe`, `Head`), and everything else as a write.
    pub fn class(service: &str, operation: &str) -> Class {
        if service.eq_ignore_ascii_case("sts")
            && matches!(operation, "AssumeRole" | "GetCallerIdentity")
        {
            Class::Session
        } else if ["Get", "List", "Describe", "Head"]
            .iter()
            .any(|p| operation.starts_with(p))
        {
            Class::Read
        } else {
            Class::Write
        }
    }

    fn of(&self, class: Class) -> u64 {
        self.calls
            .iter()
            .filter(|((svc, op), _)| Stats::class(svc, op) == class)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn session(&self) -> u64 {
        self.of(Class::Session)
    }

    pub fn reads(&self) -> u64 {
        self.of(Class::Read)
    }

    pub fn writes(&self) -> u64 {
        self.of(Class::Write)
    }

    pub fn count(&self, service: &str, operation: &str) -> u64 {
        self.calls
            .get(&(service.to_string(), operation.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// A table for `--stats`: session calls, reads and writes apart.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (title, class) in [
            ("session calls", Class::Session),
            ("reads", Class::Read),
            ("writes", Class::Write),
        ] {
            let rows: Vec<_> = self
                .calls
                .iter()
                .filter(|((svc, op), _)| Stats::class(svc, op) == class)
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

/// What a call does, for `--stats` and the no-writes checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Opening sessions: `sts:GetCallerIdentity`, `sts:AssumeRole`.
    Session,
    Read,
    /// Everything else, and any call whose operation is not known.
    Write,
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
        // Every call is counted; one without operation metadata (none is known) under a
        // name that classes it as a write rather than vanishing from the count.
        let key = match cfg.load::<Metadata>() {
            Some(m) => (m.service().to_string(), m.name().to_string()),
            None => ("unknown".to_string(), "unknown operation".to_string()),
        };
        *self
            .calls
            .lock()
            .expect("stats lock")
            .entry(key)
            .or_default() += 1;
        Ok(())
    }

    // When the SDK is done with a call (retries included), say which call it was and how
    // many attempts it took, for the error message a user reads (`error.rs`): on the
    // response when there is one, else around the connection failure.
    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(m) => (m.service().to_string(), m.name().to_string()),
            None => ("unknown".to_string(), "unknown operation".to_string()),
        };
        let call = Call {
            service,
            operation,
            attempts: cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts()),
        };
        if let Some(r) = context.response_mut() {
            r.add_extension(call);
            return Ok(());
        }
        if let Some(Err(e)) = context.output_or_error_mut() {
            let timeout =
                e.is_timeout_error() || e.as_connector_error().is_some_and(|c| c.is_timeout());
            if timeout || e.is_connector_error() {
                let original = std::mem::replace(e, OrchestratorError::other("replaced"));
                let annotated = Box::new(FailedCall {
                    call,
                    source: Box::new(original),
                });
                *e = OrchestratorError::connector(if timeout {
                    ConnectorError::timeout(annotated)
                } else {
                    ConnectorError::io(annotated)
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_classed_as_session_read_or_write() {
        assert_eq!(Stats::class("sts", "AssumeRole"), Class::Session);
        assert_eq!(Stats::class("STS", "GetCallerIdentity"), Class::Session);
        assert_eq!(Stats::class("iam", "GetRole"), Class::Read);
        assert_eq!(Stats::class("s3", "HeadBucket"), Class::Read);
        assert_eq!(Stats::class("kms", "ListAliases"), Class::Read);
        assert_eq!(Stats::class("eventbridge", "DescribeRule"), Class::Read);
        assert_eq!(Stats::class("iam", "CreateRole"), Class::Write);
        assert_eq!(Stats::class("s3", "PutBucketPolicy"), Class::Write);
        assert_eq!(
            Stats::class("sts", "AssumeRoleWithWebIdentity"),
            Class::Write
        );
        assert_eq!(
            Stats::class("unknown", "unknown operation"),
            Class::Write,
            "what is not understood is never a read"
        );
    }

    #[test]
    fn render_lists_each_class_with_its_total() {
        let mut s = Stats::default();
        for (svc, op, n) in [
            ("sts", "AssumeRole", 2),
            ("iam", "GetRole", 3),
            ("s3", "PutBucketPolicy", 1),
        ] {
            s.calls.insert((svc.into(), op.into()), n);
        }
        assert_eq!(
            (s.session(), s.reads(), s.writes(), s.total()),
            (2, 3, 1, 6)
        );
        assert_eq!(
            s.render(),
            "AWS API session calls: 2\n       2  sts.AssumeRole\n\
             AWS API reads: 3\n       3  iam.GetRole\n\
             AWS API writes: 1\n       1  s3.PutBucketPolicy\n"
        );
    }
}
