//! Table-driven tests of whole decisions, each table from one AWS page (named above it),
//! plus the compositions tether's flows rely on: cross-account, explicit deny, KMS root
//! delegation, trust policies, PassRole with `iam:PassedToService`, and what cannot be
//! proven.

use super::*;
use crate::expand::policy::{PolicyDocument, Statement};

const A: &str = "111111111111";
const B: &str = "222222222222";

fn doc(json: &str) -> Vec<Statement> {
    serde_json::from_str::<PolicyDocument>(json)
        .unwrap_or_else(|e| panic!("{e}: {json}"))
        .statement
}

/// What a test expects, in short.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    Allow,
    /// Denied by the statement with this Sid (or `#n`).
    DenyBy(&'static str),
    /// Denied for lack of an allow in exactly these policies.
    NoAllowIn(&'static [&'static str]),
    CannotProve,
}

fn fits(want: &Want, d: &Decision) -> bool {
    match (want, d) {
        (Want::Allow, Decision::Allowed) => true,
        (Want::DenyBy(sid), Decision::Denied(Denied::Explicit { statement, .. })) => {
            statement.trim_matches('`') == *sid
        }
        (Want::NoAllowIn(names), Decision::Denied(Denied::NoAllow { lacking, .. })) => {
            lacking.iter().map(String::as_str).eq(names.iter().copied())
        }
        (Want::CannotProve, Decision::CannotProve(_)) => true,
        _ => false,
    }
}

/// One row: caller, action, resource and its account, context, identity statements,
/// resource side, expected answer.
struct Row<'a> {
    what: &'a str,
    caller: Caller,
    action: &'a str,
    resource: &'a str,
    resource_account: &'a str,
    context: Context,
    identity: Option<&'a [Statement]>,
    target: Side<'a>,
    want: Want,
}

enum Side<'a> {
    Resource(Option<&'a [Statement]>),
    Trust(&'a [Statement]),
    Key(&'a [Statement]),
}

fn run(rows: Vec<Row>) {
    for row in rows {
        let policies;
        let identity = match row.identity {
            Some(statements) => {
                policies = [Policy {
                    name: "identity".into(),
                    statements,
                }];
                Identity {
                    name: "identity".into(),
                    policies: &policies,
                    unread: &[],
                }
            }
            None => Identity {
                name: "identity".into(),
                ..Identity::NONE
            },
        };
        let target = match row.target {
            Side::Resource(policy) => Target::Resource {
                name: "resource",
                policy,
            },
            Side::Trust(statements) => Target::Trust(Policy {
                name: "resource".into(),
                statements,
            }),
            Side::Key(statements) => Target::Key(Policy {
                name: "resource".into(),
                statements,
            }),
        };
        let request = Request {
            caller: &row.caller,
            action: row.action,
            resource: row.resource,
            resource_account: row.resource_account,
            names: &[],
            context: &row.context,
        };
        let got = evaluate(&request, &identity, &target);
        assert!(
            fits(&row.want, &got),
            "{}: want {:?}, got {got}",
            row.what,
            row.want
        );
    }
}

fn role(arn: &str) -> Caller {
    Caller::role(arn).expect("role ARN")
}

// --- "Policy evaluation for requests within a single account", Example identity-based
// and resource-based policy evaluation: Carlos's user policy allows listing and reading
// his bucket, the bucket policy (in the same account) allows him to put objects; either
// suffices, and a Deny in either wins. The example's user is a role session here.

#[test]
fn within_one_account_either_policy_suffices() {
    let carlos = "arn:aws:iam::123456789012:role/carlossalazar";
    let identity = doc(r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"AllowS3ListRead","Effect":"Allow",
         "Action":["s3:GetBucketLocation","s3:GetObject","s3:ListBucket"],
         "Resource":["arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs","arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/*"]},
        {"Sid":"DenyS3Delete","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}"#);
    let bucket = doc(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"AllowCarlosPut","Effect":"Allow","Principal":{{"AWS":"{carlos}"}},
         "Action":["s3:PutObject","s3:DeleteObject"],
         "Resource":"arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/*"}},
        {{"Sid":"AccountOnly","Effect":"Allow","Principal":{{"AWS":"123456789012"}},
         "Action":"s3:GetObjectTagging",
         "Resource":"arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/*"}}]}}"#
    ));
    let object = "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/log.txt";
    let row = |what, action, want| Row {
        what,
        caller: role(carlos),
        action,
        resource: object,
        resource_account: "123456789012",
        context: Context::role_call(),
        identity: Some(&identity),
        target: Side::Resource(Some(&bucket)),
        want,
    };
    run(vec![
        row("identity allows", "s3:GetObject", Want::Allow),
        row("bucket policy allows the role", "s3:PutObject", Want::Allow),
        row("deny in the identity policy wins", "s3:DeleteObject", Want::DenyBy("DenyS3Delete")),
        row("neither allows", "s3:PutObjectAcl", Want::NoAllowIn(&["identity", "resource"])),
        // The account principal delegates to IAM: it grants the role nothing by itself.
        row("account principal alone", "s3:GetObjectTagging", Want::NoAllowIn(&["identity", "resource"])),
        // Action names are not case-sensitive.
        row("action case", "S3:getobject", Want::Allow),
    ]);
}

// --- CodePipeline User Guide, "Create a pipeline in CodePipeline that uses resources
// from another AWS account": the artifact bucket policy in account A with
// DenyUnEncryptedObjectUploads, DenyInsecureConnections, and Allows for account B's
// root; account B's role must also be allowed by its own policy.

fn codepipeline_bucket() -> Vec<Statement> {
    doc(&format!(
        r#"{{"Version":"2012-10-17","Id":"SSEAndSSLPolicy","Statement":[
        {{"Sid":"DenyUnEncryptedObjectUploads","Effect":"Deny","Principal":"*","Action":"s3:PutObject",
          "Resource":"arn:aws:s3:::codepipeline-us-east-2-1234567890/*",
          "Condition":{{"StringNotEquals":{{"s3:x-amz-server-side-encryption":"aws:kms"}}}}}},
        {{"Sid":"DenyInsecureConnections","Effect":"Deny","Principal":"*","Action":"s3:*",
          "Resource":"arn:aws:s3:::codepipeline-us-east-2-1234567890/*",
          "Condition":{{"Bool":{{"aws:SecureTransport":false}}}}}},
        {{"Sid":"","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},
          "Action":["s3:Get*","s3:Put*"],"Resource":"arn:aws:s3:::codepipeline-us-east-2-1234567890/*"}},
        {{"Sid":"","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},
          "Action":"s3:ListBucket","Resource":"arn:aws:s3:::codepipeline-us-east-2-1234567890"}}]}}"#
    ))
}

#[test]
fn cross_account_artifact_bucket_from_the_codepipeline_guide() {
    let bucket = codepipeline_bucket();
    let role_policy = doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Action":["s3:GetObject*","s3:PutObject","s3:PutObjectAcl"],
        "Resource":["arn:aws:s3:::codepipeline-us-east-2-1234567890/*"]}]}"#);
    let object = "arn:aws:s3:::codepipeline-us-east-2-1234567890/pipe/artifact.zip";
    let b_role = format!("arn:aws:iam::{B}:role/CrossAccount_Role");
    let kms = || Context::role_call().with("s3:x-amz-server-side-encryption", "aws:kms");
    let row = |what, caller: &str, action, context, identity, want| Row {
        what,
        caller: role(caller),
        action,
        resource: object,
        resource_account: A,
        context,
        identity,
        target: Side::Resource(Some(&bucket)),
        want,
    };
    run(vec![
        row("B's role puts an encrypted object", &b_role, "s3:PutObject", kms(), Some(&role_policy), Want::Allow),
        row("B's role reads", &b_role, "s3:GetObject", Context::role_call(), Some(&role_policy), Want::Allow),
        row("unencrypted upload", &b_role, "s3:PutObject", Context::role_call().without("s3:x-amz-server-side-encryption"), Some(&role_policy), Want::DenyBy("DenyUnEncryptedObjectUploads")),
        row("over plain HTTP", &b_role, "s3:GetObject", Context::role_call().with_bool("aws:SecureTransport", false), Some(&role_policy), Want::DenyBy("DenyInsecureConnections")),
        row("the bucket allows B, B's role policy does not", &b_role, "s3:GetObject", Context::role_call(), None, Want::NoAllowIn(&["identity"])),
        row("a third account", "arn:aws:iam::333333333333:role/CrossAccount_Role", "s3:GetObject", Context::role_call(), Some(&role_policy), Want::NoAllowIn(&["resource"])),
        // Whether the upload names SSE-KMS is not said: the Deny may apply.
        row("encryption header unknown", &b_role, "s3:PutObject", Context::role_call(), Some(&role_policy), Want::CannotProve),
    ]);
}

#[test]
fn across_accounts_a_bucket_without_policy_denies() {
    let policy = doc(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
    );
    run(vec![Row {
        what: "no bucket policy",
        caller: role(&format!("arn:aws:iam::{B}:role/r")),
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/k",
        resource_account: A,
        context: Context::role_call(),
        identity: Some(&policy),
        target: Side::Resource(None),
        want: Want::NoAllowIn(&["resource"]),
    }]);
}

// --- "AWS JSON policy elements: Principal": the forms of a principal and what they
// cover, on an EventBridge bus policy (`events:PutEvents`).

#[test]
fn principal_forms() {
    let bus = "arn:aws:events:us-east-1:111111111111:event-bus/acme";
    let put = doc(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"events:PutEvents","Resource":"{bus}"}}]}}"#
    ));
    let policy = |principal: &str| {
        doc(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"S","Effect":"Allow","Principal":{principal},"Action":"events:PutEvents","Resource":"{bus}"}}]}}"#
        ))
    };
    let sender = format!("arn:aws:iam::{B}:role/tether/acme/forward");
    let cases: Vec<(&str, String, Caller, bool, Want)> = vec![
        ("account id", format!(r#"{{"AWS":"{B}"}}"#), role(&sender), true, Want::Allow),
        ("account root ARN", format!(r#"{{"AWS":"arn:aws:iam::{B}:root"}}"#), role(&sender), true, Want::Allow),
        ("role ARN with its path", format!(r#"{{"AWS":"{sender}"}}"#), role(&sender), true, Want::Allow),
        ("a session of that role", format!(r#"{{"AWS":"{sender}"}}"#), Caller::role_session(&sender, "s1").unwrap(), true, Want::Allow),
        ("assumed-role session ARN", format!(r#"{{"AWS":"arn:aws:sts::{B}:assumed-role/forward/s1"}}"#), Caller::role_session(&sender, "s1").unwrap(), true, Want::Allow),
        ("another session", format!(r#"{{"AWS":"arn:aws:sts::{B}:assumed-role/forward/s2"}}"#), Caller::role_session(&sender, "s1").unwrap(), true, Want::NoAllowIn(&["resource"])),
        ("session name not known", format!(r#"{{"AWS":"arn:aws:sts::{B}:assumed-role/forward/s2"}}"#), role(&sender), true, Want::CannotProve),
        ("anyone", r#""*""#.into(), role(&sender), true, Want::Allow),
        ("AWS anyone", r#"{"AWS":"*"}"#.into(), role(&sender), true, Want::Allow),
        ("unique id of a deleted role", r#"{"AWS":"AROAEXAMPLEID123456"}"#.into(), role(&sender), true, Want::NoAllowIn(&["resource"])),
        ("the role by another path", format!(r#"{{"AWS":"arn:aws:iam::{B}:role/forward"}}"#), role(&sender), true, Want::CannotProve),
        ("another account", format!(r#"{{"AWS":"{A}"}}"#), role(&sender), true, Want::NoAllowIn(&["resource"])),
        ("both kinds in one principal", format!(r#"{{"AWS":["{A}","{sender}"],"Service":"events.amazonaws.com"}}"#), role(&sender), true, Want::Allow),
        ("service principal for a role", r#"{"Service":"events.amazonaws.com"}"#.into(), role(&sender), true, Want::NoAllowIn(&["resource"])),
        ("service principal for the service", r#"{"Service":"events.amazonaws.com"}"#.into(), Caller::service("events.amazonaws.com"), false, Want::Allow),
        ("wildcard inside an ARN", format!(r#"{{"AWS":"arn:aws:iam::{B}:role/tether/*"}}"#), role(&sender), true, Want::CannotProve),
        ("canonical user", r#"{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#.into(), role(&sender), true, Want::CannotProve),
    ];
    for (what, principal, caller, with_identity, want) in cases {
        let statements = policy(&principal);
        run(vec![Row {
            what,
            caller,
            action: "events:PutEvents",
            resource: bus,
            resource_account: A,
            context: Context::role_call(),
            identity: with_identity.then_some(&put[..]),
            target: Side::Resource(Some(&statements)),
            want,
        }]);
    }
}

// --- Role trust policies ("Policy evaluation logic": the trust policy must allow;
// "How to use trust policies with IAM roles"): the pipeline role assuming an action role
// in another account, EventBridge assuming a target role with aws:SourceArn and
// aws:SourceAccount (EventBridge, "Using IAM policy conditions").

/// Rows of `caller` assuming the role `resource` of `account`.
fn assuming<'a>(
    caller: &'a str,
    resource: &'a str,
    account: &'a str,
) -> impl Fn(&'a str, Option<&'a [Statement]>, &'a [Statement], Want) -> Row<'a> {
    move |what, identity, trust, want| Row {
        what,
        caller: role(caller),
        action: "sts:AssumeRole",
        resource,
        resource_account: account,
        context: Context::role_call(),
        identity,
        target: Side::Trust(trust),
        want,
    }
}

#[test]
fn assume_role_needs_the_trust_policy() {
    let pipeline_role = format!("arn:aws:iam::{A}:role/tether/acme/pipeline");
    let action_role = format!("arn:aws:iam::{B}:role/tether/acme/deploy");
    let assume = doc(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{action_role}"}}]}}"#
    ));
    let trusts = |principal: &str| {
        doc(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole"}}]}}"#
        ))
    };
    let trust_pipeline = trusts(&pipeline_role);
    let trust_account_a = trusts(A);
    let trust_other = trusts(&format!("arn:aws:iam::{A}:role/tether/acme/other"));
    let row = assuming(&pipeline_role, &action_role, B);
    run(vec![
        row("both allow", Some(&assume[..]), &trust_pipeline[..], Want::Allow),
        row("trust names the account", Some(&assume), &trust_account_a, Want::Allow),
        row("trust names another role", Some(&assume), &trust_other, Want::NoAllowIn(&["resource"])),
        row("no sts:AssumeRole in the identity policy", None, &trust_pipeline, Want::NoAllowIn(&["identity"])),
    ]);

    // Within one account: the trust policy naming the role suffices; naming the
    // account needs the identity policy too; the identity policy alone is not enough.
    let same = format!("arn:aws:iam::{A}:role/tether/acme/start");
    let assume_same = doc(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{same}"}}]}}"#
    ));
    let none: Vec<Statement> = vec![];
    let row = assuming(&pipeline_role, &same, A);
    run(vec![
        row("same account, trust names the role", None, &trust_pipeline[..], Want::Allow),
        row("same account, trust names the account only", None, &trust_account_a[..], Want::NoAllowIn(&["identity"])),
        row("same account, account and identity", Some(&assume_same[..]), &trust_account_a[..], Want::Allow),
        row("same account, identity only", Some(&assume_same[..]), &none[..], Want::NoAllowIn(&["resource"])),
    ]);
}

#[test]
fn eventbridge_assumes_a_target_role_with_source_conditions() {
    let rule = format!("arn:aws:events:us-east-1:{A}:rule/acme-triggers/on-upload");
    let trust = doc(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"events.amazonaws.com"}},
        "Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"aws:SourceAccount":"{A}"}},"ArnEquals":{{"aws:SourceArn":"{rule}"}}}}}}]}}"#
    ));
    let target = format!("arn:aws:iam::{A}:role/tether/acme/start");
    let row = |what, context, want| Row {
        what,
        caller: Caller::service("events.amazonaws.com"),
        action: "sts:AssumeRole",
        resource: &target,
        resource_account: A,
        context,
        identity: None,
        target: Side::Trust(&trust),
        want,
    };
    let other_rule = format!("arn:aws:events:us-east-1:{A}:rule/acme-triggers/other");
    run(vec![
        row("the rule's own call", Context::service_call(&rule, A), Want::Allow),
        row("another rule", Context::service_call(&other_rule, A), Want::NoAllowIn(&["resource"])),
        row("another account's rule", Context::service_call(&rule, B), Want::NoAllowIn(&["resource"])),
        row("source not said", Context::new(), Want::CannotProve),
    ]);
    // A role caller is not the service principal.
    run(vec![Row {
        what: "a role is not events.amazonaws.com",
        caller: role(&format!("arn:aws:iam::{A}:role/x")),
        action: "sts:AssumeRole",
        resource: &target,
        resource_account: A,
        context: Context::role_call(),
        identity: None,
        target: Side::Trust(&trust),
        want: Want::NoAllowIn(&["resource"]),
    }]);
}

// --- KMS: "Key policies in AWS KMS" (the key policy must allow; IAM policies count only
// when it allows the account), "Default key policy" (the statement for the account root
// enables IAM policies), "Allowing users in other accounts to use a KMS key" (the key
// policy admits the external account or principal, and the external IAM policy must
// allow too).

#[test]
fn kms_key_policy_and_root_delegation() {
    let key = format!("arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let same_role = format!("arn:aws:iam::{A}:role/tether/acme/pipeline");
    let other_role = format!("arn:aws:iam::{B}:role/tether/acme/deploy");
    let key_policy = doc(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"AllowExternal","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}},
        {{"Sid":"AllowDirect","Effect":"Allow","Principal":{{"AWS":"{same_role}"}},"Action":"kms:Encrypt","Resource":"*"}},
        {{"Sid":"DenyDisable","Effect":"Deny","Principal":"*","Action":"kms:DisableKey","Resource":"*"}}]}}"#
    ));
    let only_admin = doc(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:role/admin"}},"Action":"kms:*","Resource":"*"}}]}}"#
    ));
    let iam = doc(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["kms:Decrypt","kms:DescribeKey","kms:DisableKey"],"Resource":"arn:aws:kms:us-east-1:{A}:key/*",
        "Condition":{{"ForAnyValue:StringEquals":{{"kms:ResourceAliases":"alias/acme-artifacts"}}}}}}]}}"#
    ));
    let ctx = || Context::role_call().with_list("kms:ResourceAliases", ["alias/acme-artifacts"]);
    let row = |what, caller: &str, action, identity, policy, want| Row {
        what,
        caller: role(caller),
        action,
        resource: &key,
        resource_account: A,
        context: ctx(),
        identity,
        target: Side::Key(policy),
        want,
    };
    run(vec![
        row("root statement delegates to IAM", &same_role, "kms:Decrypt", Some(&iam[..]), &key_policy[..], Want::Allow),
        row("root statement, no IAM allow", &same_role, "kms:Decrypt", None, &key_policy[..], Want::NoAllowIn(&["identity"])),
        row("key policy names the role", &same_role, "kms:Encrypt", None, &key_policy[..], Want::Allow),
        row("IAM allows, key policy does not", &same_role, "kms:Decrypt", Some(&iam[..]), &only_admin[..], Want::NoAllowIn(&["resource"])),
        row("explicit deny in the key policy", &same_role, "kms:DisableKey", Some(&iam[..]), &key_policy[..], Want::DenyBy("DenyDisable")),
        row("other account, both allow", &other_role, "kms:Decrypt", Some(&iam[..]), &key_policy[..], Want::Allow),
        row("other account, key policy only", &other_role, "kms:Decrypt", None, &key_policy[..], Want::NoAllowIn(&["identity"])),
        row("other account, not admitted", &other_role, "kms:Encrypt", Some(&iam[..]), &key_policy[..], Want::NoAllowIn(&["resource", "identity"])),
    ]);
    // The alias condition: another alias, or aliases not said.
    let aliased = |what, context, want| Row { context, ..row(what, &same_role, "kms:Decrypt", Some(&iam[..]), &key_policy[..], want) };
    run(vec![
        aliased("another alias", Context::role_call().with_list("kms:ResourceAliases", ["alias/other"]), Want::NoAllowIn(&["identity"])),
        aliased("aliases not said", Context::role_call(), Want::CannotProve),
    ]);
}

// --- `iam:PassRole` limited by `iam:PassedToService` ("IAM and AWS STS condition context
// keys", iam:PassedToService; "Granting a user permissions to pass a role to an AWS
// service").

#[test]
fn pass_role_is_limited_by_passed_to_service() {
    let actor = format!("arn:aws:iam::{B}:role/tether/acme/deploy");
    let exec = format!("arn:aws:iam::{B}:role/tether/acme/cfn-exec");
    let policy = doc(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PassExecutionRoles","Effect":"Allow","Action":"iam:PassRole","Resource":"{exec}",
        "Condition":{{"StringEquals":{{"iam:PassedToService":"cloudformation.amazonaws.com"}}}}}}]}}"#
    ));
    let row = |what, resource, context, want| Row {
        what,
        caller: role(&actor),
        action: "iam:PassRole",
        resource,
        resource_account: B,
        context,
        identity: Some(&policy),
        target: Side::Resource(None),
        want,
    };
    let other = format!("arn:aws:iam::{B}:role/admin");
    run(vec![
        row("to CloudFormation", &exec, Context::role_call().passing_to("cloudformation.amazonaws.com"), Want::Allow),
        row("to another service", &exec, Context::role_call().passing_to("ec2.amazonaws.com"), Want::NoAllowIn(&["identity", "resource"])),
        row("another role", &other, Context::role_call().passing_to("cloudformation.amazonaws.com"), Want::NoAllowIn(&["identity", "resource"])),
        row("service not said", &exec, Context::role_call(), Want::CannotProve),
    ]);
}

/// A Deny for anyone of everything but `not` (the typed parser requires `Action`, so
/// statements with `NotAction` are built here).
fn not_action_deny(not: serde_json::Value) -> Statement {
    let mut s = Statement::deny(Vec::<String>::new())
        .sid("NA")
        .anyone()
        .on(["*"]);
    s.other.insert("NotAction".into(), not);
    s
}

// --- What cannot be proven never reads as allowed; and what cannot matter does not
// spoil a proof.

#[test]
fn unknowns_never_allow() {
    let caller = format!("arn:aws:iam::{A}:role/r");
    let object = "arn:aws:s3:::b/k";
    let allow = doc(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
    );
    let bucket = |statement: &str| {
        doc(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#
        ))
    };
    let cases: Vec<(&str, Vec<Statement>, Want)> = vec![
        (
            "a foreign Deny with an operator not evaluated",
            bucket(
                r#"{"Sid":"Foreign","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}"#,
            ),
            Want::CannotProve,
        ),
        (
            "a foreign Deny on a key nobody described",
            bucket(
                r#"{"Sid":"Org","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-123"}}}"#,
            ),
            Want::CannotProve,
        ),
        (
            "the same Deny on another action cannot matter",
            bucket(
                r#"{"Sid":"Org","Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-123"}}}"#,
            ),
            Want::Allow,
        ),
        (
            "a Deny that certainly applies wins over an unknown one",
            bucket(
                r#"{"Sid":"Unknown","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}},
                      {"Sid":"Certain","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"s3:GetObject","Resource":"*"}"#,
            ),
            Want::DenyBy("Certain"),
        ),
        (
            "NotPrincipal is not evaluated",
            bucket(
                r#"{"Sid":"NP","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111111111111:role/admin"},"Action":"s3:*","Resource":"*"}"#,
            ),
            Want::CannotProve,
        ),
        (
            "a Deny with NotAction that covers the action",
            vec![not_action_deny(serde_json::json!(["s3:PutObject"]))],
            Want::DenyBy("NA"),
        ),
        (
            "a Deny with NotAction that excludes the action",
            vec![not_action_deny(serde_json::json!("s3:Get*"))],
            Want::Allow,
        ),
        (
            "a Deny with NotResource that excludes the object",
            bucket(
                r#"{"Sid":"NR","Effect":"Deny","Principal":"*","Action":"s3:*","NotResource":"arn:aws:s3:::b/*"}"#,
            ),
            Want::Allow,
        ),
        (
            "a resource pattern with a policy variable",
            bucket(
                r#"{"Sid":"V","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*"}"#,
            ),
            Want::CannotProve,
        ),
    ];
    for (what, statements, want) in cases {
        run(vec![Row {
            what,
            caller: role(&caller),
            action: "s3:GetObject",
            resource: object,
            resource_account: A,
            context: Context::role_call(),
            identity: Some(&allow),
            target: Side::Resource(Some(&statements)),
            want,
        }]);
    }
}

/// `NotAction` cannot come through the typed parser (it requires `Action`), but a
/// statement built in code may carry it in `other`: it is read from there.
#[test]
fn not_action_in_an_identity_policy() {
    let mut s = Statement::allow(Vec::<String>::new()).on(["*"]);
    s.other.insert(
        "NotAction".into(),
        serde_json::json!(["iam:*", "organizations:*"]),
    );
    let statements = [s];
    let policies = [Policy {
        name: "power-user".into(),
        statements: &statements,
    }];
    let identity = Identity {
        name: "policies of role r".into(),
        policies: &policies,
        unread: &[],
    };
    let caller = role(&format!("arn:aws:iam::{A}:role/r"));
    let ctx = Context::role_call();
    let decide = |action| {
        let r = Request {
            caller: &caller,
            action,
            resource: "arn:aws:s3:::b/k",
            resource_account: A,
            names: &[],
            context: &ctx,
        };
        evaluate(
            &r,
            &identity,
            &Target::Resource {
                name: "bucket b",
                policy: None,
            },
        )
    };
    assert_eq!(decide("s3:GetObject"), Decision::Allowed);
    assert!(matches!(decide("iam:PassRole"), Decision::Denied(_)));
}

#[test]
fn an_unread_managed_policy_blocks_a_proof_but_not_a_denial() {
    let caller = role(&format!("arn:aws:iam::{B}:role/tf"));
    let allow = doc(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
    );
    let policies = [Policy {
        name: "inline".into(),
        statements: &allow,
    }];
    let unread = ["arn:aws:iam::aws:policy/PowerUserAccess".to_string()];
    let identity = Identity {
        name: "policies of role tf".into(),
        policies: &policies,
        unread: &unread,
    };
    let ctx = Context::role_call();
    let request = |resource_account| Request {
        caller: &caller,
        action: "s3:GetObject",
        resource: "arn:aws:s3:::b/k",
        resource_account,
        names: &[],
        context: &ctx,
    };
    let got = evaluate(
        &request(B),
        &identity,
        &Target::Resource {
            name: "bucket b",
            policy: None,
        },
    );
    assert!(
        matches!(&got, Decision::CannotProve(r) if r.contains("PowerUserAccess")),
        "{got}"
    );
    // Across accounts with no bucket policy the answer is no, whatever the managed policy says.
    let got = evaluate(
        &request(A),
        &identity,
        &Target::Resource {
            name: "bucket b",
            policy: None,
        },
    );
    assert_eq!(
        got,
        Decision::Denied(Denied::NoAllow {
            lacking: vec!["bucket b".into()],
            rule: compose_rule_cross()
        })
    );
}

fn compose_rule_cross() -> &'static str {
    "across accounts both the identity policies and the resource policy must allow"
}

#[test]
fn the_root_user() {
    let ctx = Context::role_call();
    let root = Caller::root(A);
    let key_policy = doc(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    ));
    let r = |resource, resource_account| Request {
        caller: &root,
        action: "kms:Decrypt",
        resource,
        resource_account,
        names: &[],
        context: &ctx,
    };
    let key = format!("arn:aws:kms:us-east-1:{A}:key/k");
    let key_side = Target::Key(Policy {
        name: "key".into(),
        statements: &key_policy,
    });
    assert_eq!(
        evaluate(&r(&key, A), &Identity::NONE, &key_side),
        Decision::Allowed
    );
    let none = Target::Key(Policy {
        name: "key".into(),
        statements: &[],
    });
    assert!(matches!(
        evaluate(&r(&key, A), &Identity::NONE, &none),
        Decision::Denied(_)
    ));
    let trust = Target::Trust(Policy {
        name: "trust".into(),
        statements: &key_policy,
    });
    assert!(matches!(
        evaluate(&r(&key, A), &Identity::NONE, &trust),
        Decision::Denied(_)
    ));
    let bucket = Target::Resource {
        name: "b",
        policy: None,
    };
    assert_eq!(
        evaluate(&r("arn:aws:s3:::b", A), &Identity::NONE, &bucket),
        Decision::Allowed
    );
    assert!(matches!(
        evaluate(&r("arn:aws:s3:::b", B), &Identity::NONE, &bucket),
        Decision::Denied(_)
    ));
}

#[test]
fn decisions_read_as_sentences() {
    let d = Decision::Denied(Denied::Explicit {
        policy: "tools/us-east-1/event_bus.acme".into(),
        statement: "`ForeignDeny`".into(),
    });
    assert_eq!(
        d.to_string(),
        "denied: statement `ForeignDeny` of tools/us-east-1/event_bus.acme denies it"
    );
    let d = Decision::Denied(Denied::NoAllow {
        lacking: vec!["policies of role a".into(), "bucket b".into()],
        rule: "r",
    });
    assert_eq!(
        d.to_string(),
        "denied: no allow in policies of role a nor in bucket b (r)"
    );
}

// --- tether's own derived policies, read by the evaluator: every role an artifact
// store's policies name can read the artifacts and decrypt them (flow 4: several
// accounts and regions).

#[test]
fn derived_artifact_stores_admit_the_roles_they_name() {
    use crate::plan::unknown::{as_applied, stand_in};
    use crate::resource::Spec;
    let text = include_str!("../../docs/examples/flow4-multi-region.yaml");
    let expansion = crate::check_bytes(text.as_bytes(), "flow4.yaml")
        .expect("valid")
        .expansion;
    // As applied: each key's ARN (known after apply) is its stand-in, wherever named.
    let resources: Vec<_> = expansion.resources.iter().map(as_applied).collect();
    let roles: Vec<_> = resources
        .iter()
        .filter_map(|r| match &r.spec {
            Spec::IamRole(x) => Some(x),
            _ => None,
        })
        .collect();
    let identity_of = |arn: &str| {
        let role = roles
            .iter()
            .find(|r| r.arn == arn)
            .unwrap_or_else(|| panic!("{arn} is derived"));
        // A derived execution role also carries the managed policies the topology names
        // for its stacks; its artifact reads are proven from tether's own statements,
        // which allow them (any Deny in those managed policies is the topology's own).
        assert!(
            role.managed_policies.is_empty() || role.name.ends_with("-cfn-exec"),
            "{arn}: managed policies would be unread"
        );
        role.inline_policies
            .iter()
            .map(|(name, d)| (name.clone(), d.statement.clone()))
            .collect::<Vec<_>>()
    };
    let mut checked = 0;
    for r in &resources {
        let (statements, resource, action, key) = match &r.spec {
            Spec::S3Bucket(b) => (
                &b.policy_statements,
                format!("{}/pipe/artifact.zip", b.arn),
                "s3:GetObject",
                false,
            ),
            Spec::KmsKey(k) => (&k.policy_statements, stand_in(&r.address), "kms:Decrypt", true),
            _ => continue,
        };
        // Who the policy lets read: the principals a bucket policy names; the roles a key
        // policy's account principals are narrowed to by `aws:PrincipalArn`.
        let allows = statements.iter().filter(|s| {
            s.effect == crate::expand::policy::Effect::Allow && s.action.contains(action)
        });
        let readers: Vec<String> = if key {
            allows
                .filter_map(|s| s.condition.get("ArnEquals"))
                .filter_map(|c| c.get("aws:PrincipalArn"))
                .flat_map(|v| v.iter().cloned())
                .collect()
        } else {
            allows
                .flat_map(|s| s.aws_principals().map(String::from))
                .collect()
        };
        let context = Context::role_call();
        for arn in &readers {
            let inline = identity_of(arn);
            let policies: Vec<Policy> = inline
                .iter()
                .map(|(n, s)| Policy {
                    name: n.as_str().into(),
                    statements: s,
                })
                .collect();
            let identity = Identity {
                name: arn.as_str().into(),
                policies: &policies,
                unread: &[],
            };
            let caller = Caller::role(arn).expect("role ARN");
            let request = Request {
                caller: &caller,
                action,
                resource: &resource,
                resource_account: &r.account_id,
                names: &[],
                context: &context,
            };
            let policy = Policy {
                name: r.address.0.as_str().into(),
                statements,
            };
            let target = if key {
                Target::Key(policy)
            } else {
                Target::Resource {
                    name: &r.address.0,
                    policy: Some(statements),
                }
            };
            let got = evaluate(&request, &identity, &target);
            assert_eq!(got, Decision::Allowed, "{arn} {action} {resource}: {got}");
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} requests checked");
}
