//! External principals against the emulator: a derived role in a target account trusts
//! a CodeBuild service role tether does not manage (flow 2, Terraform). `plan` reads that
//! role's policies, read-only, and warns with the statement to add when they do not
//! allow `sts:AssumeRole` on the derived role, or says why it could not read them.

use crate::emulator::{take, Emulator, Topology, AMBIENT};
use crate::plan::plan;
use crate::{calls, text};

const TERRAFORM: &str = "arn:aws:iam::333333333333:role/tether/flow2/flow2-terraform";

fn tf_runner() -> String {
    format!("arn:aws:iam::{AMBIENT}:role/tf-runner")
}

fn warnings(emu: &Emulator, t: &Topology) -> Vec<String> {
    warnings_of(&plan(emu, t, &[]))
}

/// The `warnings` of a JSON plan.
fn warnings_of(plan: &serde_json::Value) -> Vec<String> {
    plan["warnings"]
        .as_array()
        .map(|w| w.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The build's service role, made by another tool: a CodeBuild trust, an inline policy
/// and a customer managed policy that reach S3 only.
fn create_tf_runner(emu: &Emulator) {
    emu.oob(&format!(
        r#"
iam = c("iam", "{AMBIENT}")
trust = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {{"Service": "codebuild.amazonaws.com"}}, "Action": "sts:AssumeRole"}}]}}
iam.create_role(RoleName="tf-runner", AssumeRolePolicyDocument=json.dumps(trust))
logs = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}}]}}
iam.put_role_policy(RoleName="tf-runner", PolicyName="logs", PolicyDocument=json.dumps(logs))
s3 = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}]}}
arn = iam.create_policy(PolicyName="tf-runner-s3", PolicyDocument=json.dumps(s3))["Policy"]["Arn"]
iam.attach_role_policy(RoleName="tf-runner", PolicyArn=arn)
"#
    ));
}

#[test]
fn an_external_build_role_without_the_allow_is_told_the_statement_to_add() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow2-tools-deploys.yaml");

    // Before the other tool made it, the role does not exist: said so.
    let w = warnings(emu, &t);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with(&format!(
            "cannot check that `{}` may assume `dev/global/iam_role.flow2-terraform` ({TERRAFORM}): account `tools` ({AMBIENT}) has no role named `tf-runner`",
            tf_runner()
        )),
        "{w:?}"
    );

    create_tf_runner(emu);
    let statement =
        format!(r#"{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{TERRAFORM}"}}"#);
    let w = warnings(emu, &t);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with(&format!(
            "`{}` may not assume `dev/global/iam_role.flow2-terraform` ({TERRAFORM}): none of its policies allows sts:AssumeRole on it",
            tf_runner()
        )),
        "{w:?}"
    );
    assert!(
        w[0].ends_with(&format!(
            "Add this statement to one of its policies: {statement}"
        )),
        "{w:?}"
    );

    // The text and Markdown plans show it too.
    for (format, prefix) in [("text", "Warning: "), ("markdown", "> **Warning:** ")] {
        let o = emu.tether(&["plan", "--format", format, "-f", t.arg()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains(&format!("{prefix}`{}` may not assume", tf_runner())),
            "{out}"
        );
    }

    // Read-only: the role's policies, and nothing written.
    let o = emu.tether(&["plan", "--stats", "-f", t.arg()]);
    let c = calls(&o);
    assert_eq!(c.writes, 0, "{}", text(&o));
    assert_eq!(c.by_operation.get("IAM.GetRole"), Some(&1), "{}", text(&o));
    assert_eq!(
        c.by_operation.get("IAM.GetPolicyVersion"),
        Some(&1),
        "{}",
        text(&o)
    );

    // The other tool adds the statement the warning names, in a managed policy: silent.
    emu.oob(&format!(
        r#"
iam = c("iam", "{AMBIENT}")
doc = {{"Version": "2012-10-17", "Statement": [{statement}]}}
arn = iam.create_policy(PolicyName="tf-runner-assume", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
iam.attach_role_policy(RoleName="tf-runner", PolicyArn=arn)
"#
    ));
    assert_eq!(warnings(emu, &t), Vec::<String>::new());

    // A permissions boundary that does not allow it limits the role all the same.
    emu.oob(&format!(
        r#"
iam = c("iam", "{AMBIENT}")
doc = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": ["s3:*", "logs:*"], "Resource": "*"}}]}}
arn = iam.create_policy(PolicyName="ci-boundary", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
iam.put_role_permissions_boundary(RoleName="tf-runner", PermissionsBoundary=arn)
"#
    ));
    let w = warnings(emu, &t);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(&format!(
            "its permissions boundary arn:aws:iam::{AMBIENT}:policy/ci-boundary does not allow sts:AssumeRole on it"
        )),
        "{w:?}"
    );
    emu.oob(&format!(
        r#"c("iam", "{AMBIENT}").delete_role_permissions_boundary(RoleName="tf-runner")"#
    ));
    assert_eq!(warnings(emu, &t), Vec::<String>::new());

    // An explicit deny in its own inline policy wins over that allow.
    emu.oob(&format!(
        r#"
iam = c("iam", "{AMBIENT}")
deny = {{"Version": "2012-10-17", "Statement": [{{"Sid": "NoRoles", "Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::333333333333:role/*"}}]}}
iam.put_role_policy(RoleName="tf-runner", PolicyName="guard", PolicyDocument=json.dumps(deny))
"#
    ));
    let w = warnings(emu, &t);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("statement `NoRoles` of inline policy `guard` denies sts:AssumeRole on it"),
        "{w:?}"
    );
}

#[test]
fn a_build_role_in_an_account_outside_the_topology_cannot_be_read_and_says_so() {
    let (_g, emu) = take();
    let t = Topology::example("docs/examples/flow2-tools-deploys.yaml");
    t.rewrite(|s| {
        s.replace(
            &format!("arn:aws:iam::{AMBIENT}:role/tf-runner"),
            "arn:aws:iam::999999999999:role/tf-runner",
        )
    });
    let o = emu.tether(&["plan", "--stats", "--format", "json", "-f", t.arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        warnings_of(&p),
        [format!(
            "cannot check that `arn:aws:iam::999999999999:role/tf-runner` may assume `dev/global/iam_role.flow2-terraform` ({TERRAFORM}): \
             account 999999999999 is not in the topology, so tether has no credentials to read its policies. \
             A cross-account sts:AssumeRole needs an Allow in the caller's own policies besides the trust tether writes, \
             and tether does not change principals it does not manage; make sure one of its policies holds \
             {{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\",\"Resource\":\"{TERRAFORM}\"}}"
        )]
    );
    // Nothing is asked of an account tether cannot reach.
    let c = calls(&o);
    assert_eq!(c.by_operation.get("IAM.GetRole"), None, "{}", text(&o));
}
