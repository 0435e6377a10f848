//! The provider layer: sessions per account, clients per account and region, and API
//! call accounting. This is the only module that imports `aws_sdk_*`.
//!
//! One session per account: the ambient credentials (standard chain: environment,
//! profile, SSO, …), checked with `sts:GetCallerIdentity`, or `sts:AssumeRole` into the
//! account's role, chained from the ambient credentials. Clients for each (account,
//! region) are built once and shared. `AWS_ENDPOINT_URL` and the other standard settings
//! are honoured; S3 uses path-style addressing when the endpoint is overridden.

mod error;
pub mod external;
pub mod marker;
pub mod read;
pub mod resource;
mod session;
mod stats;
pub mod write;

use crate::model::{AccountAccess, Topology};
use aws_config::{BehaviorVersion, Region, SdkConfig};
pub use error::{AwsError, Call};
pub use stats::{CallCounter, Class, Stats};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// How many times one AWS call is tried before it fails, unless `AWS_MAX_ATTEMPTS` says
/// otherwise (AWS SDKs and Tools Reference Guide, "Retry behavior": `max_attempts` /
/// `AWS_MAX_ATTEMPTS`, `retry_mode` / `AWS_RETRY_MODE`; standard mode makes 3 attempts
/// unless told otherwise). The SDK's default (3) lets a single burst of throttling fail a long
/// reconciliation; Terraform's AWS provider tries up to 25 times. Ten attempts with the
/// SDK's capped exponential backoff (1 s doubling, at most 20 s, with jitter) wait out
/// about two minutes of continuous failure before giving up.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// The SDK's retry strategy for tether: standard mode (or `AWS_RETRY_MODE`: `standard`,
/// `adaptive`, or `legacy`, which the SDK treats as standard) with
/// [`DEFAULT_MAX_ATTEMPTS`] (or `AWS_MAX_ATTEMPTS`). The SDK retries throttling, 5xx
/// answers, timeouts and dropped connections; every write tether makes is idempotent
/// or checks for what an earlier attempt made (see `write.rs`), so a retry after a lost
/// answer does no harm.
pub fn retry_config(
    env: impl Fn(&str) -> Option<String>,
) -> Result<aws_config::retry::RetryConfig, AwsError> {
    use aws_config::retry::RetryConfig;
    let bad = |key: &str, value: &str, want: &str| AwsError::Unexpected {
        context: key.to_string(),
        detail: format!("`{value}` is not {want}"),
    };
    let config = match env("AWS_RETRY_MODE").as_deref().map(str::trim) {
        None | Some("" | "standard" | "legacy") => RetryConfig::standard(),
        Some("adaptive") => RetryConfig::adaptive(),
        Some(other) => {
            return Err(bad(
                "AWS_RETRY_MODE",
                other,
                "one of standard, adaptive, legacy",
            ))
        }
    };
    let attempts = match env("AWS_MAX_ATTEMPTS").as_deref().map(str::trim) {
        None | Some("") => DEFAULT_MAX_ATTEMPTS,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(bad("AWS_MAX_ATTEMPTS", v, "a whole number of at least 1")),
        },
    };
    Ok(config
        .with_max_attempts(attempts)
        .with_initial_backoff(std::time::Duration::from_secs(1))
        .with_max_backoff(std::time::Duration::from_secs(20)))
}

/// Bounds on one call, so that a service that stops answering fails the call in bounded
/// time instead of hanging the run: 5 s to connect, 60 s per attempt (no AWS call tether
/// makes takes more), 5 minutes in all, retries included.
fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .operation_attempt_timeout(std::time::Duration::from_secs(60))
        .operation_timeout(std::time::Duration::from_secs(300))
        .build()
}

/// Tags as IAM takes them (roles, the ownership marker).
pub(crate) fn iam_tags(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_iam::types::Tag> {
    write::tag_list(tags, |k, v| {
        aws_sdk_iam::types::Tag::builder().key(k).value(v).build()
    })
}

/// The clients for one account and region.
#[derive(Debug, Clone)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub pipeline: aws_sdk_codepipeline::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sts: aws_sdk_sts::Client,
}

/// Sessions for every account of a topology.
#[derive(Debug)]
pub struct Aws {
    sessions: BTreeMap<String, SdkConfig>,
    clients: Mutex<HashMap<(String, String), Arc<Clients>>>,
    counter: CallCounter,
    path_style: bool,
}

impl Aws {
    /// Opens a session per account, checking that each reaches the account it should.
    pub async fn connect(topology: &Topology, counter: CallCounter) -> Result<Aws, AwsError> {
        let region = std::env::var("AWS_REGION")
            .ok()
            .or_else(|| topology.default_region.as_ref().map(|r| r.to_string()))
            .unwrap_or_else(|| "us-east-1".into());
        let retry = retry_config(|k| std::env::var(k).ok())?;
        let base = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region))
            .retry_config(retry)
            .timeout_config(timeout_config())
            .load()
            .await;
        let path_style = base.endpoint_url().is_some();
        let session_name = crate::names::fit(&["tether", &topology.name], 64);
        let mut sessions = BTreeMap::new();
        let mut checks = Vec::new();
        for (key, account) in &topology.accounts {
            let config = match &account.access {
                AccountAccess::Ambient => base.clone(),
                AccountAccess::AssumeRole {
                    role_arn,
                    external_id,
                } => {
                    let provider = session::AssumeRole {
                        sts: aws_sdk_sts::Client::from_conf(
                            aws_sdk_sts::config::Builder::from(&base)
                                .interceptor(counter.clone())
                                .build(),
                        ),
                        role_arn: role_arn.clone(),
                        external_id: external_id.clone(),
                        session_name: session_name.clone(),
                    };
                    base.to_builder()
                        .credentials_provider(
                            aws_credential_types::provider::SharedCredentialsProvider::new(
                                provider,
                            ),
                        )
                        .build()
                }
            };
            let sts = aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&config)
                    .interceptor(counter.clone())
                    .build(),
            );
            let expected = account.id.clone();
            let key2 = key.clone();
            let ambient = account.access == AccountAccess::Ambient;
            checks.push(tokio::spawn(async move {
                let who = sts.get_caller_identity().send().await.map_err(|e| {
                    AwsError::from_sdk(format!("accounts.{key2}: checking credentials"), e)
                })?;
                let actual = who.account().unwrap_or_default().to_string();
                if actual != expected {
                    if ambient {
                        return Err(AwsError::WrongAccount {
                            key: key2,
                            expected,
                            actual,
                        });
                    }
                    return Err(AwsError::Unexpected {
                        context: format!("accounts.{key2}"),
                        detail: format!(
                            "the assumed role acts in account {actual}, not {expected}"
                        ),
                    });
                }
                Ok(())
            }));
            sessions.insert(key.clone(), config);
        }
        for c in checks {
            c.await.map_err(|e| AwsError::Unexpected {
                context: "checking credentials".into(),
                detail: e.to_string(),
            })??;
        }
        Ok(Aws {
            sessions,
            clients: Mutex::new(HashMap::new()),
            counter,
            path_style,
        })
    }

    /// The clients of `account` (a topology key) in `region`, built on first use.
    pub fn clients(&self, account: &str, region: &str) -> Arc<Clients> {
        let key = (account.to_string(), region.to_string());
        let mut map = self.clients.lock().expect("client cache lock");
        if let Some(c) = map.get(&key) {
            return c.clone();
        }
        let base = &self.sessions[account];
        let config = base
            .to_builder()
            .region(Region::new(region.to_string()))
            .build();
        let c = self.counter.clone();
        let clients = Arc::new(Clients {
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config)
                    .interceptor(c.clone())
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(self.path_style)
                    .interceptor(c.clone())
                    .build(),
            ),
            kms: aws_sdk_kms::Client::from_conf(
                aws_sdk_kms::config::Builder::from(&config)
                    .interceptor(c.clone())
                    .build(),
            ),
            events: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(&config)
                    .interceptor(c.clone())
                    .build(),
            ),
            pipeline: aws_sdk_codepipeline::Client::from_conf(
                aws_sdk_codepipeline::config::Builder::from(&config)
                    .interceptor(c.clone())
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&config)
                    .interceptor(c.clone())
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&config)
                    .interceptor(c)
                    .build(),
            ),
        });
        map.insert(key, clients.clone());
        clients
    }

    pub fn stats(&self) -> Stats {
        self.counter.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn retries_default_to_ten_standard_attempts_and_honour_the_standard_settings() {
        let c = retry_config(env(&[])).unwrap();
        assert_eq!(c.max_attempts(), DEFAULT_MAX_ATTEMPTS);
        assert_eq!(c.mode(), aws_config::retry::RetryMode::Standard);
        assert_eq!(c.max_backoff(), std::time::Duration::from_secs(20));
        let c = retry_config(env(&[
            ("AWS_MAX_ATTEMPTS", "25"),
            ("AWS_RETRY_MODE", "adaptive"),
        ]))
        .unwrap();
        assert_eq!(c.max_attempts(), 25);
        assert_eq!(c.mode(), aws_config::retry::RetryMode::Adaptive);
        let e = retry_config(env(&[("AWS_MAX_ATTEMPTS", "0")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "AWS_MAX_ATTEMPTS: `0` is not a whole number of at least 1"
        );
        assert!(retry_config(env(&[("AWS_RETRY_MODE", "fast")])).is_err());
    }
}
