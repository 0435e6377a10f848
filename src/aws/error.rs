//! AWS failures as users read them: one line with the resource address, what tether was
//! doing, the service and operation, the HTTP status, AWS's error code and message (or
//! that there was none), how many attempts were made, and what to do when there is
//! something to do. The SDK's full error chain goes to the debug log only.

use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use std::fmt;

/// Which call failed and after how many attempts; the call counter attaches it to every
/// response, and to every connection failure, when the SDK gives up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub service: String,
    pub operation: String,
    pub attempts: u32,
}

/// A connection failure annotated with its [`Call`] (the SDK's own error is the source).
#[derive(Debug)]
pub(crate) struct FailedCall {
    pub call: Call,
    pub source: aws_smithy_runtime_api::box_error::BoxError,
}

impl fmt::Display for FailedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)
    }
}

impl std::error::Error for FailedCall {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// An AWS failure, with what tether was doing and what AWS said.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// AWS answered with an error: an HTTP status, and a code and message when the body
    /// held them (`code` is empty when it did not).
    #[error("{}", render(context, call.as_deref(), &Answer::Status { status: *status, code, message }))]
    Service {
        context: String,
        code: String,
        message: String,
        status: Option<u16>,
        call: Option<Box<Call>>,
    },
    /// No answer: the connection failed or timed out.
    #[error("{}", render(context, call.as_deref(), &Answer::None { detail }))]
    Transport {
        context: String,
        detail: String,
        call: Option<Box<Call>>,
    },
    #[error("the ambient credentials belong to account {actual}, but `accounts.{key}` (which has no `role`) is {expected}; use credentials of that account, or give the entry a `role` to assume")]
    WrongAccount {
        key: String,
        expected: String,
        actual: String,
    },
    #[error("{context}: {detail}")]
    Unexpected { context: String, detail: String },
}

enum Answer<'a> {
    Status {
        status: Option<u16>,
        code: &'a str,
        message: &'a str,
    },
    None {
        detail: &'a str,
    },
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "LimitExceededException",
];

const CREDENTIALS: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
];

fn render(context: &str, call: Option<&Call>, answer: &Answer<'_>) -> String {
    let mut out = format!("{context}: ");
    if let Some(c) = call {
        out.push_str(&format!("{} {} ", c.service, c.operation));
    }
    let hint = match answer {
        Answer::Status {
            status,
            code,
            message,
        } => {
            let status_text = status.map(|s| {
                let reason = http::StatusCode::from_u16(s)
                    .ok()
                    .and_then(|c| c.canonical_reason());
                match reason {
                    Some(r) => format!("{s} {r}"),
                    None => s.to_string(),
                }
            });
            match (&status_text, code.is_empty()) {
                (Some(s), true) => out.push_str(&format!("failed with {s}, no error body")),
                (Some(s), false) => out.push_str(&format!("failed with {s}, {code}")),
                (None, true) => out.push_str("failed without an error code"),
                (None, false) => out.push_str(&format!("failed: {code}")),
            }
            if !code.is_empty() && !message.is_empty() {
                out.push_str(&format!(": {message}"));
            }
            if THROTTLING.contains(code) || status.is_some_and(|s| s >= 500) {
                Some("AWS kept failing on every attempt: run again later, or allow more attempts with AWS_MAX_ATTEMPTS")
            } else if CREDENTIALS.contains(code) {
                Some("the credentials are invalid or expired: refresh them and run again")
            } else if code.starts_with("AccessDenied") || *code == "AuthorizationError" {
                Some("the identity tether uses in this account lacks this permission: grant it, or use other credentials")
            } else {
                None
            }
        }
        Answer::None { detail } => {
            out.push_str(&format!("failed: {detail}"));
            Some(
                "check the network and the endpoint (AWS_ENDPOINT_URL, AWS_REGION), then run again",
            )
        }
    };
    if let Some(c) = call {
        let s = if c.attempts == 1 { "" } else { "s" };
        out.push_str(&format!(" ({} attempt{s})", c.attempts));
    }
    if let Some(h) = hint {
        out.push_str(&format!("; {h}"));
    }
    out
}

/// The innermost message of an error chain: the cause a person can act on ("Connection
/// refused", "connection closed before message completed"), not the SDK's wrapping.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn find_call(e: &(dyn std::error::Error + 'static)) -> Option<Call> {
    let mut cur = Some(e);
    while let Some(x) = cur {
        if let Some(f) = x.downcast_ref::<FailedCall>() {
            return Some(f.call.clone());
        }
        cur = x.source();
    }
    None
}

impl AwsError {
    /// Converts an SDK error, keeping the AWS error code and message, the HTTP status and
    /// the call; the whole chain is logged at debug level.
    pub fn from_sdk<E>(context: impl Into<String>, e: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let context = context.into();
        tracing::debug!(
            context = %context,
            error = %aws_smithy_types::error::display::DisplayErrorContext(&e),
            "AWS call failed"
        );
        let response = e.raw_response();
        let call = response
            .and_then(|r| r.extension::<Call>().cloned())
            .or_else(|| find_call(&e))
            .map(Box::new);
        let status = response.map(|r| r.status().as_u16());
        match (e.code(), response) {
            (Some(code), _) => AwsError::Service {
                context,
                code: code.to_string(),
                message: e.message().unwrap_or("").to_string(),
                status,
                call,
            },
            (None, Some(_)) => AwsError::Service {
                context,
                code: String::new(),
                message: String::new(),
                status,
                call,
            },
            (None, None) => {
                let detail = match &e {
                    SdkError::TimeoutError(_) => "timed out".to_string(),
                    SdkError::DispatchFailure(d) if d.is_timeout() => "timed out".to_string(),
                    SdkError::DispatchFailure(_) => {
                        format!("the connection failed ({})", innermost(&e))
                    }
                    SdkError::ConstructionFailure(_) => {
                        format!("the request could not be made ({})", innermost(&e))
                    }
                    _ => innermost(&e),
                };
                AwsError::Transport {
                    context,
                    detail,
                    call,
                }
            }
        }
    }

    /// The AWS error code, when AWS sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }

    /// An error AWS answered with a code and message, for tests and writers that report
    /// a failure AWS returned inside a successful response.
    pub fn service(context: impl Into<String>, code: &str, message: &str) -> Self {
        AwsError::Service {
            context: context.into(),
            code: code.to_string(),
            message: message.to_string(),
            status: None,
            call: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(attempts: u32) -> Option<Box<Call>> {
        Some(Box::new(Call {
            service: "S3".into(),
            operation: "GetBucketPolicy".into(),
            attempts,
        }))
    }

    const AT: &str = "tools/us-east-1/s3_bucket.acme-artifacts: reading the bucket policy";

    #[test]
    fn a_service_error_is_one_line_with_status_code_message_and_attempts() {
        let e = AwsError::Service {
            context: AT.into(),
            code: "AccessDenied".into(),
            message: "Access Denied".into(),
            status: Some(403),
            call: call(1),
        };
        assert_eq!(
            e.to_string(),
            "tools/us-east-1/s3_bucket.acme-artifacts: reading the bucket policy: S3 GetBucketPolicy failed with 403 Forbidden, AccessDenied: Access Denied (1 attempt); the identity tether uses in this account lacks this permission: grant it, or use other credentials"
        );
    }

    #[test]
    fn an_error_without_a_body_says_so() {
        let e = AwsError::Service {
            context: AT.into(),
            code: String::new(),
            message: String::new(),
            status: Some(503),
            call: call(10),
        };
        assert_eq!(
            e.to_string(),
            "tools/us-east-1/s3_bucket.acme-artifacts: reading the bucket policy: S3 GetBucketPolicy failed with 503 Service Unavailable, no error body (10 attempts); AWS kept failing on every attempt: run again later, or allow more attempts with AWS_MAX_ATTEMPTS"
        );
        assert_eq!(e.code(), None);
    }

    #[test]
    fn a_dropped_connection_says_what_failed_and_what_to_do() {
        let e = AwsError::Transport {
            context: AT.into(),
            detail: "the connection failed (connection closed before message completed)".into(),
            call: call(10),
        };
        assert_eq!(
            e.to_string(),
            "tools/us-east-1/s3_bucket.acme-artifacts: reading the bucket policy: S3 GetBucketPolicy failed: the connection failed (connection closed before message completed) (10 attempts); check the network and the endpoint (AWS_ENDPOINT_URL, AWS_REGION), then run again"
        );
        assert!(!e.to_string().contains('\n'));
    }
}
