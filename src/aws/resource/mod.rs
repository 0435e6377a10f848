//! The provider half of each resource kind: how it is read (with discovery of owned
//! leftovers), created, updated and deleted. One module per kind, named as the kind's
//! pure half in `crate::resource`; the registry there (`for_each_kind!`) generates the dispatch
//! below, so the compiler asks a new kind for both halves.
//!
//! What every kind shares stays outside: sessions and clients (`aws`), the read
//! orchestration and shared-policy splitting (`aws::read`), the write helpers and
//! Sid-owned statement merging (`aws::write`), error mapping (`aws::error`).

pub mod event_bus;
pub mod event_rule;
pub mod event_target;
pub mod eventbridge;
pub mod iam_role;
pub mod kms_key;
pub mod pipeline;
pub mod s3_bucket;
pub mod sqs_queue;

use super::read::ReadCx;
use super::write::{Put, Writer};
use super::AwsError;
use crate::plan::ResourceChange;
use crate::resource::{Kind, Resource, Spec};
use crate::state::Observed;

/// Which reads of a kind cover it: one per account (IAM is global; S3 lists an
/// account's buckets in one call), one per account and region, or none of its own (read
/// by another kind's reader, as targets are listed with their rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadScope {
    Account,
    Region,
    WithParent,
}

/// The provider half of a kind. Async functions in a crate-private trait: dispatch is
/// static (generated per kind), so every future's type, and its `Send`, is known.
pub(crate) trait Provider: Kind + Sized {
    const READ: ReadScope;

    /// The live resources of this kind in `cx`'s place: every wanted one (absent ones
    /// are simply not returned) and every owned one that is not desired (discovery).
    async fn read(cx: &ReadCx) -> Result<Vec<Observed>, AwsError>;

    /// Creates (`p.create`) or updates `p.r` as `p.change` says: idempotent, and an
    /// update writes only the fields the change lists.
    async fn put(x: &Self, p: Put<'_>) -> Result<(), AwsError>;

    /// Deletes the observed resource; "not found" means done.
    async fn delete(w: &Writer<'_>, o: &Observed, x: &Self) -> Result<(), AwsError>;
}

macro_rules! dispatch {
    ($($variant:ident($module:ident::$spec:ident),)*) => {
        /// Every kind with its read scope, in registry order.
        pub(crate) const READS: &[(&str, ReadScope)] = &[
            $((<crate::resource::$spec as Kind>::KIND, <crate::resource::$spec as Provider>::READ),)*
        ];

        /// Reads one kind (by name) in `cx`'s place.
        pub(crate) async fn read(kind: &str, cx: &ReadCx) -> Result<Vec<Observed>, AwsError> {
            $(if kind == <crate::resource::$spec as Kind>::KIND {
                return <crate::resource::$spec as Provider>::read(cx).await;
            })*
            Ok(Vec::new())
        }

        pub(crate) async fn put(
            w: &Writer<'_>,
            r: &Resource,
            change: &ResourceChange,
            create: bool,
        ) -> Result<(), AwsError> {
            match &r.spec {
                $(Spec::$variant(x) => Provider::put(x, Put { w, r, change, create }).await,)*
            }
        }

        pub(crate) async fn delete(w: &Writer<'_>, o: &Observed) -> Result<(), AwsError> {
            match &o.spec {
                $(Spec::$variant(x) => Provider::delete(w, o, x).await,)*
            }
        }
    };
}

crate::resource::for_each_kind!(dispatch);
