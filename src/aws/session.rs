//! Credentials for an account reached with `sts:AssumeRole`, through a client that the
//! call counter sees.
//!
//! aws-config's `AssumeRoleProvider` builds its own STS client from an `SdkConfig`, which
//! cannot carry interceptors: its `AssumeRole` calls would be invisible to `--stats` and
//! to the tests that rely on it ("a plan never writes" must see every call tether causes).
//! This provider makes the same call with tether's counted client; the SDK's identity
//! cache (shared by every client built from the account's config) keeps the credentials
//! until they near expiry, so there is one `AssumeRole` per account and run.

use super::AwsError;
use aws_credential_types::provider::{self, error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;
use std::time::SystemTime;

#[derive(Debug)]
pub(crate) struct AssumeRole {
    pub sts: aws_sdk_sts::Client,
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

impl AssumeRole {
    async fn assume(&self) -> provider::Result {
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .set_external_id(self.external_id.clone())
            .send()
            .await
            .map_err(|e| {
                CredentialsError::provider_error(AwsError::from_sdk(
                    format!("assuming {}", self.role_arn),
                    e,
                ))
            })?;
        let c = out.credentials().ok_or_else(|| {
            CredentialsError::unhandled(format!(
                "AssumeRole of {} answered without credentials",
                self.role_arn
            ))
        })?;
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            SystemTime::try_from(*c.expiration()).ok(),
            "tether-assume-role",
        ))
    }
}

impl ProvideCredentials for AssumeRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}
