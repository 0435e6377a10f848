//! The access summary: in words a reviewer checks, the grants a plan adds, changes or
//! removes — "account 222222222222 (app) may put events on bus acme-releases (tools,
//! us-east-1)" — cross-account grants first.
//!
//! It is derived from the policy documents of each change, desired (`after`) against
//! observed (`before`), never from the topology: what it says is what AWS will hold.
//! A grant is a principal, what it may do, on which resource, under which conditions;
//! Deny statements restrict and are not grants. AWS's closest tool is IAM Access
//! Analyzer's check-no-new-access.

use super::{Action, Plan, ResourceChange};
use crate::expand::policy::{Effect, PolicyDocument, Principal, Statement};
use crate::resource::Spec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How a grant changes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum GrantChange {
    Added,
    Changed,
    Removed,
}

/// One grant the plan adds, changes or removes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Grant {
    /// The principal is in another account than the resource.
    pub cross_account: bool,
    pub change: GrantChange,
    /// The sentence: who may do what on which resource, and since when (changes).
    pub text: String,
    /// The resource whose policy holds the grant.
    pub address: String,
}

/// Who may do what, keyed by (principal, resource description); the value is the
/// actions and the conditions, as words.
type Grants = BTreeMap<(String, String), (BTreeSet<String>, String, bool)>;

/// Names for account ids, from the plan's own changes.
struct Names(BTreeMap<String, String>);

impl Names {
    fn account(&self, id: &str) -> String {
        match self.0.get(id) {
            Some(key) => format!("account {id} ({key})"),
            None => format!("account {id}"),
        }
    }

    /// A principal in words, and the account it acts in (`None` for services and `*`).
    fn principal(&self, p: &str) -> (String, Option<String>) {
        if p == "*" {
            return ("anyone".into(), None);
        }
        if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
            return (self.account(p), Some(p.to_string()));
        }
        let parts: Vec<&str> = p.splitn(6, ':').collect();
        if parts.len() == 6 && parts[2] == "iam" {
            let id = parts[4].to_string();
            let what = parts[5];
            if what == "root" {
                return (self.account(&id), Some(id));
            }
            if let Some(role) = what.strip_prefix("role/") {
                let name = role.rsplit('/').next().unwrap_or(role);
                let key = self.0.get(&id).cloned().unwrap_or_else(|| id.clone());
                return (format!("role {name} ({key})"), Some(id));
            }
        }
        (p.to_string(), None)
    }
}

fn conditions(s: &Statement) -> String {
    let mut parts = Vec::new();
    for (op, keys) in &s.condition {
        for (key, values) in keys {
            let v: Vec<&str> = values.iter().map(String::as_str).collect();
            parts.push(format!("{key} {op} {}", v.join(" or ")));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" when {}", parts.join(" and "))
    }
}

/// The grants of a resource policy: its principals on `resource`.
fn resource_grants(
    statements: &[Statement],
    resource: &str,
    resource_account: &str,
    names: &Names,
    out: &mut Grants,
) {
    for s in statements.iter().filter(|s| s.effect == Effect::Allow) {
        let principals: Vec<(String, Option<String>)> = match &s.principal {
            Some(Principal::Aws(p)) => p.iter().map(|p| names.principal(p)).collect(),
            Some(Principal::Service(p)) => {
                p.iter().map(|p| (format!("service {p}"), None)).collect()
            }
            Some(Principal::Anyone) => vec![("anyone".into(), None)],
            Some(Principal::Other(v)) => vec![(v.to_string(), None)],
            None => continue,
        };
        for (who, account) in principals {
            let cross = account.is_some_and(|a| a != resource_account);
            let e = out
                .entry((who, resource.to_string()))
                .or_insert_with(|| (BTreeSet::new(), conditions(s), cross));
            e.0.extend(s.action.iter().cloned());
        }
    }
}

/// The grants of a role's own policies: the role on each resource it names.
fn identity_grants(role: &str, doc: &PolicyDocument, out: &mut Grants) {
    for s in doc.statement.iter().filter(|s| s.effect == Effect::Allow) {
        for r in s.resource.iter().flat_map(|r| r.iter()) {
            let e = out
                .entry((role.to_string(), r.clone()))
                .or_insert_with(|| (BTreeSet::new(), conditions(s), false));
            e.0.extend(s.action.iter().cloned());
        }
    }
}

fn grants(spec: &Spec, account_id: &str, account: &str, region: &str, names: &Names) -> Grants {
    let mut out = Grants::new();
    match spec {
        Spec::IamRole(r) => {
            let me = format!("role {} ({account})", r.name);
            resource_grants(&r.trust_policy.statement, &me, account_id, names, &mut out);
            for doc in r.inline_policies.values() {
                identity_grants(&me, doc, &mut out);
            }
            for arn in &r.managed_policies {
                out.insert(
                    (me.clone(), format!("the managed policy {arn}")),
                    (["attached".to_string()].into(), String::new(), false),
                );
            }
        }
        other => {
            if let Some((what, statements)) = other.resource_policy() {
                let what = format!("{what} ({account}, {region})");
                resource_grants(statements, &what, account_id, names, &mut out);
            }
        }
    }
    out
}

fn sentence(who: &str, actions: &BTreeSet<String>, on: &str, when: &str) -> String {
    if actions.len() == 1 && actions.contains("sts:AssumeRole") {
        if let Some(role) = on.strip_prefix("role ") {
            return format!("role {role} may be assumed by {who}{when}");
        }
    }
    if actions.len() == 1 && actions.contains("attached") {
        return format!("{who} gets {on}");
    }
    let list: Vec<&str> = actions.iter().map(String::as_str).collect();
    format!("{who} may {} on {on}{when}", list.join(", "))
}

fn change_grants(c: &ResourceChange, names: &Names) -> Vec<Grant> {
    let of = |spec: Option<&Spec>| {
        spec.map(|s| grants(s, &c.account_id, &c.account, &c.region, names))
            .unwrap_or_default()
    };
    let before = of(c.before.as_ref().map(|o| &o.spec));
    // A value known only after apply is named by what will hold it.
    let labels: crate::plan::unknown::Known = c
        .unknowns
        .values()
        .flatten()
        .map(|a| (a.clone(), format!("{a} (ARN known after apply)")))
        .collect();
    let after = c.after.clone().map(|mut r| {
        crate::plan::unknown::fill(&mut r, &c.unknowns, &labels);
        r
    });
    let after = if c.action == Action::Delete {
        Grants::new()
    } else {
        of(after.as_ref().map(|r| &r.spec))
    };
    let mut out = Vec::new();
    let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let (who, on) = key;
        let grant = |change, cross, text| Grant {
            cross_account: cross,
            change,
            text,
            address: c.address.to_string(),
        };
        match (before.get(key), after.get(key)) {
            (None, Some((a, when, cross))) => out.push(grant(
                GrantChange::Added,
                *cross,
                sentence(who, a, on, when),
            )),
            (Some((b, when, cross)), None) => out.push(grant(
                GrantChange::Removed,
                *cross,
                sentence(who, b, on, when),
            )),
            (Some(b), Some(a)) if b != a => {
                let was = sentence(who, &b.0, on, &b.1);
                out.push(grant(
                    GrantChange::Changed,
                    a.2 || b.2,
                    format!("{} (was: {was})", sentence(who, &a.0, on, &a.1)),
                ))
            }
            _ => {}
        }
    }
    out
}

/// Every grant the plan adds, changes or removes: cross-account first, then additions,
/// changes and removals.
pub fn summary(plan: &Plan) -> Vec<Grant> {
    let names = Names(
        plan.changes
            .iter()
            .map(|c| (c.account_id.clone(), c.account.clone()))
            .chain(
                plan.markers
                    .iter()
                    .map(|m| (m.account_id.clone(), m.account.clone())),
            )
            .collect(),
    );
    let mut all: Vec<Grant> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .flat_map(|c| change_grants(c, &names))
        .collect();
    all.sort_by(|a, b| {
        (!a.cross_account, a.change, &a.text).cmp(&(!b.cross_account, b.change, &b.text))
    });
    all.dedup();
    all
}

/// The summary as lines for the text and Markdown plans: `+` added, `~` changed, `-`
/// removed.
pub fn lines(grants: &[Grant]) -> Vec<String> {
    grants
        .iter()
        .map(|g| {
            let mark = match g.change {
                GrantChange::Added => "+",
                GrantChange::Changed => "~",
                GrantChange::Removed => "-",
            };
            let scope = if g.cross_account {
                "cross-account: "
            } else {
                ""
            };
            format!("{mark} {scope}{}", g.text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Observed, State};

    use crate::fixtures::flow1;

    fn plan(e: &crate::expand::Expansion, state: &State) -> Plan {
        crate::plan::diff::diff(e, state, "sha", &crate::plan::diff::Options::default())
            .expect("a plan")
    }

    #[test]
    fn a_new_topology_lists_its_grants_cross_account_first() {
        let e = flow1();
        let mut state = State::default();
        for r in &e.resources {
            state.resources.insert(r.address.clone(), None);
        }
        let lines = lines(&summary(&plan(&e, &state)));
        let first_local = lines
            .iter()
            .position(|l| !l.contains("cross-account"))
            .expect("local grants too");
        assert!(
            lines[..first_local]
                .iter()
                .all(|l| l.contains("cross-account")),
            "{lines:#?}"
        );
        for want in [
            "+ cross-account: account 222222222222 (app) may events:PutEvents on bus flow1-triggers (tools, us-east-1)",
            "+ cross-account: role flow1-release-source (app) may be assumed by role flow1-release-pipeline (tools)",
            "+ role flow1-on-upload-start (tools) may be assumed by service events.amazonaws.com when aws:SourceArn ArnEquals arn:aws:events:us-east-1:111111111111:rule/flow1-triggers/flow1-on-upload-start and aws:SourceAccount StringEquals 111111111111",
            "+ role flow1-on-upload-start (tools) may codepipeline:StartPipelineExecution on arn:aws:codepipeline:us-east-1:111111111111:flow1-release",
            // The dead-letter queue of each rule's place admits EventBridge for its rules.
            "+ service events.amazonaws.com may sqs:SendMessage on queue flow1-dead-letter (app, us-east-1) when aws:SourceArn ArnEquals arn:aws:events:us-east-1:222222222222:rule/flow1-on-upload-forward",
            "+ service events.amazonaws.com may sqs:SendMessage on queue flow1-dead-letter (tools, us-east-1) when aws:SourceArn ArnEquals arn:aws:events:us-east-1:111111111111:rule/flow1-triggers/flow1-on-upload-start",
        ] {
            assert!(lines.iter().any(|l| l == want), "{want}\nin {lines:#?}");
        }
    }

    #[test]
    fn a_changed_grant_says_what_it_was_and_a_removed_one_goes() {
        let e = flow1();
        let mut state = State::default();
        for r in &e.resources {
            let mut o = Observed::as_created(r);
            if let Spec::EventBus(b) = &mut o.spec {
                // Live, the bus admitted another account too.
                let mut extra = b.policy_statements[0].clone();
                extra.principal = Some(Principal::Aws(["arn:aws:iam::999999999999:root"].into()));
                extra.sid = Some("tether_flow1_Other".into());
                b.policy_statements.push(extra);
            }
            if let Spec::IamRole(role) = &mut o.spec {
                if role.name == "flow1-on-upload-start" {
                    let p = role.inline_policies.get_mut("tether").unwrap();
                    p.statement[0].action = ["codepipeline:*"].into();
                }
            }
            state.resources.insert(r.address.clone(), Some(o));
        }
        let lines = lines(&summary(&plan(&e, &state)));
        assert_eq!(
            lines,
            [
                "- cross-account: account 999999999999 may events:PutEvents on bus flow1-triggers (tools, us-east-1)",
                "~ role flow1-on-upload-start (tools) may codepipeline:StartPipelineExecution on arn:aws:codepipeline:us-east-1:111111111111:flow1-release (was: role flow1-on-upload-start (tools) may codepipeline:* on arn:aws:codepipeline:us-east-1:111111111111:flow1-release)",
            ]
        );
    }
}
