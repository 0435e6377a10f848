//! The provider layer: sessions per account, clients per account and region, and API
//! call accounting. This is the only module that imports `aws_sdk_*`.
//!
//! One session per account: the ambient credentials (standard chain: environment,
//! profile, SSO, …), checked with `sts:GetCallerIdentity`, or `sts:AssumeRole` into the
//! account's role, chained from the ambient credentials. Clients for each (account,
//! region) are built once and shared. `AWS_ENDPOINT_URL` and the other standard settings
//! are honoured; S3 uses path-style addressing when the endpoint is overridden.

pub mod read;
mod session;
mod stats;
pub mod write;

use crate::model::{AccountAccess, Topology};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::error::ProvideErrorMetadata;
pub use stats::{CallCounter, Class, Stats};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// An AWS failure, with what tether was doing and AWS's code and message.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{context}: {code}: {message}")]
    Service {
        context: String,
        code: String,
        message: String,
    },
    #[error("{context}: {detail}")]
    Transport { context: String, detail: String },
    #[error("the ambient credentials belong to account {actual}, but `accounts.{key}` (which has no `role`) is {expected}; use credentials of that account, or give the entry a `role` to assume")]
    WrongAccount {
        key: String,
        expected: String,
        actual: String,
    },
    #[error("{context}: {detail}")]
    Unexpected { context: String, detail: String },
}

impl AwsError {
    /// Converts an SDK error, keeping the AWS error code and message.
    pub fn from_sdk<E, R>(
        context: impl Into<String>,
        e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let context = context.into();
        match (e.code(), e.message()) {
            (Some(code), message) => AwsError::Service {
                context,
                code: code.to_string(),
                message: message.unwrap_or("").to_string(),
            },
            _ => AwsError::Transport {
                context,
                detail: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            },
        }
    }

    /// The AWS error code, when AWS sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The clients for one account and region.
#[derive(Debug, Clone)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub pipeline: aws_sdk_codepipeline::Client,
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
        let base = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region))
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
