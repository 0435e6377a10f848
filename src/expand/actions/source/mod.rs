//! Source actions: the kind of source (one module each) says what the action declares,
//! in which account the source lives and what reading it takes; this module decides who
//! reads it: the pipeline role in its own account, otherwise a source role there that
//! the pipeline role assumes and that writes the source artifact into the pipeline's
//! artifact store.

mod codecommit;
mod connection;
mod s3;

use super::Pipe;
use crate::expand::resource::{ActionSpec, Address};
use crate::expand::Ex;
use crate::model::{Action, Key, Source};

/// The declaration of a source action and the account its source lives in.
struct Declared {
    spec: ActionSpec,
    account: Key,
}

pub(super) fn declare(
    ex: &mut Ex,
    p: &mut Pipe,
    act: &Action,
    src: &Source,
    base: ActionSpec,
) -> ActionSpec {
    let Declared { mut spec, account } = match src {
        Source::S3 { bucket, key } => s3::declare(ex, p, bucket, key, base),
        Source::CodeCommit {
            account,
            repository,
            branch,
            ..
        } => codecommit::declare(account, repository, branch, base),
        Source::Connection {
            arn,
            repository,
            branch,
        } => connection::declare(ex, p, arn, repository, branch, base),
    };
    let reader = reader(ex, p, act, &account, &mut spec);
    match src {
        Source::S3 { bucket, key } => s3::grant(ex, &reader, bucket, key),
        Source::CodeCommit {
            account,
            region,
            repository,
            ..
        } => codecommit::grant(ex, &reader, account, region, repository),
        Source::Connection { .. } => {}
    }
    spec
}

/// The identity that reads the source: the pipeline role, or a role in the source's
/// account that the pipeline role assumes (declared as the action's `roleArn`).
fn reader(
    ex: &mut Ex,
    p: &mut Pipe,
    act: &Action,
    account: &Key,
    spec: &mut ActionSpec,
) -> Address {
    if *account == p.pl.account {
        return p.role.clone();
    }
    let name = ex.role_name(&[&p.pl.key, "source"]);
    let role = ex.role(account, &name, &act.origin);
    let arn = ex.role_arn(account, &name);
    ex.trust_role(&role, p.role_arn.clone(), Some(&p.role));
    ex.use_store(&role, &arn, &p.pl.account, &p.pl.region, true, &act.origin);
    ex.assume(&p.role, &arn);
    p.deps.insert(role.clone());
    spec.role_arn = Some(arn);
    role
}
