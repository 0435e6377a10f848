//! The diff: desired resources and observed state → a [`Plan`]. Pure and deterministic.

use super::normalize::{canonical, canonical_statements};
use super::unknown;
use super::{Action, FieldChange, Plan, ResourceChange, FORMAT_VERSION};
use crate::expand::Expansion;
use crate::graph::Graph;
use crate::resource::{Address, Resource};
use crate::state::{Observed, Owner, State, ABSENT};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{address}: `{name}` exists and is not managed by this topology{owner}; add `adopt: true` to its entry to take it over, or choose another name")]
    NotManaged {
        address: Address,
        name: String,
        owner: String,
    },
    #[error("{0}")]
    Graph(String),
}

/// Fields compared by meaning as policy documents or statement lists.
fn policy_field(field: &str) -> bool {
    field == "trust_policy" || field == "policy_statements" || field.starts_with("inline_policies.")
}

/// Options of one plan.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these addresses and what they depend on (and matching deletions).
    pub targets: Vec<Address>,
}

/// Computes the plan. `topology_sha256` identifies the topology file the plan was made from.
pub fn diff(
    expansion: &Expansion,
    state: &State,
    topology_sha256: &str,
    options: &Options,
) -> Result<Plan, Vec<PlanError>> {
    let graph = Graph::build(expansion).map_err(|d| {
        d.into_iter()
            .map(|d| PlanError::Graph(d.message))
            .collect::<Vec<_>>()
    })?;
    let order = graph.order().map_err(|d| {
        d.into_iter()
            .map(|d| PlanError::Graph(d.message))
            .collect::<Vec<_>>()
    })?;
    let selected = select(expansion, &options.targets);
    // Values AWS assigned (a key's ARN) stand where the expansion referred to them.
    let known = unknown::known(state.resources.values().flatten());
    let mut errors = Vec::new();
    let mut changes = Vec::new();

    for desired in order {
        if !selected.contains(&desired.address) {
            continue;
        }
        let Some(observed) = state.resources.get(&desired.address) else {
            continue; // not read: outside the targets
        };
        let (desired, unknowns) = unknown::resolve(desired, &known);
        match change(&desired, observed.as_ref(), unknowns) {
            Ok(c) => changes.push(c),
            Err(e) => errors.push(e),
        }
    }

    // Owned resources that are no longer desired, deleted in reverse dependency order.
    let mut deletions: Vec<&Observed> = state
        .resources
        .iter()
        .filter(|(a, _)| expansion.get(a.as_str()).is_none())
        .filter_map(|(_, o)| o.as_ref())
        .filter(|o| o.owner == Owner::This)
        .filter(|o| options.targets.is_empty() || options.targets.contains(&o.address))
        .collect();
    deletions.sort_by(|a, b| {
        (a.spec.deletion_rank(), &a.address).cmp(&(b.spec.deletion_rank(), &b.address))
    });
    for o in deletions {
        let (action, reason) = if o.protected() {
            (
                Action::NoOp,
                "kept: no longer in the topology, but protected (tether:lifecycle=protect)"
                    .to_string(),
            )
        } else {
            (
                Action::Delete,
                "owned by this topology and no longer in it".to_string(),
            )
        };
        changes.push(ResourceChange {
            address: o.address.clone(),
            kind: o.spec.kind().to_string(),
            account: o.account.clone(),
            account_id: o.account_id.clone(),
            region: o.region.clone(),
            action,
            reason,
            changes: Vec::new(),
            before: Some(o.clone()),
            after: None,
            unknowns: Default::default(),
            fingerprint: o.fingerprint(),
        });
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Plan {
        format_version: FORMAT_VERSION,
        topology: expansion.topology.clone(),
        topology_sha256: topology_sha256.to_string(),
        changes,
        markers: Vec::new(),
        access: Vec::new(),
        warnings: Vec::new(),
        flows: Vec::new(),
    })
}

/// The targets and everything they depend on.
pub fn closure(expansion: &Expansion, targets: &[Address]) -> BTreeSet<Address> {
    select(expansion, targets)
}

/// The targets and everything they depend on; everything when there are no targets.
fn select(expansion: &Expansion, targets: &[Address]) -> BTreeSet<Address> {
    if targets.is_empty() {
        return expansion
            .resources
            .iter()
            .map(|r| r.address.clone())
            .collect();
    }
    let mut out = BTreeSet::new();
    let mut todo: Vec<Address> = targets.to_vec();
    while let Some(a) = todo.pop() {
        if !out.insert(a.clone()) {
            continue;
        }
        if let Some(r) = expansion.get(a.as_str()) {
            todo.extend(r.depends_on.iter().cloned());
        }
    }
    out
}

fn change(
    desired: &Resource,
    observed: Option<&Observed>,
    unknowns: unknown::Unknowns,
) -> Result<ResourceChange, PlanError> {
    let base = |action: Action, reason: String, changes: Vec<FieldChange>| ResourceChange {
        address: desired.address.clone(),
        kind: desired.spec.kind().to_string(),
        account: desired.account.clone(),
        account_id: desired.account_id.clone(),
        region: desired.region.clone(),
        action,
        reason,
        changes,
        before: observed.cloned(),
        after: Some(desired.clone()),
        unknowns: unknowns.clone(),
        fingerprint: observed.map_or_else(|| ABSENT.to_string(), Observed::fingerprint),
    };
    let Some(o) = observed else {
        return Ok(base(Action::Create, "does not exist".into(), Vec::new()));
    };
    let adopting = o.owner != Owner::This;
    if o.owner == Owner::OtherAccount {
        return Err(PlanError::NotManaged {
            address: desired.address.clone(),
            name: desired.spec.display_name(),
            owner: " (the name is taken by another AWS account, so it cannot be adopted either)"
                .into(),
        });
    }
    if adopting && !desired.spec.adopt() {
        return Err(PlanError::NotManaged {
            address: desired.address.clone(),
            name: desired.spec.display_name(),
            owner: match &o.owner {
                Owner::Other(t) => format!(" (it belongs to topology `{t}`)"),
                _ => String::new(),
            },
        });
    }
    let fields = fields(desired, o);
    if fields.is_empty() && !adopting {
        return Ok(base(Action::NoOp, "up to date".into(), fields));
    }
    let replacing: Vec<&str> = fields
        .iter()
        .filter(|f| f.forces_replacement)
        .map(|f| f.field.as_str())
        .collect();
    if !replacing.is_empty() {
        let reason = format!("{} cannot change in place", replacing.join(", "));
        return Ok(base(Action::Replace, reason, fields));
    }
    let reason = if adopting {
        "adopting an existing resource (adopt: true)".to_string()
    } else if !o.broken_principals.is_empty() {
        format!(
            "broken trust: {} no longer names an existing principal; rewriting",
            o.broken_principals
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else if o.pending_deletion {
        "scheduled for deletion; cancelling".to_string()
    } else {
        let n = fields.len();
        format!(
            "{n} field{} differ{} from the topology",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" }
        )
    };
    Ok(base(Action::Update, reason, fields))
}

/// Field-level differences, policies compared by meaning. Each change carries both sides
/// as they are (`before` as read from AWS, `after` as derived), never their canonical
/// forms: the canonical form is for comparing only, and would show a reviewer or a JSON
/// consumer a spelling AWS does not hold (`sts:assumerole`).
pub fn fields(desired: &Resource, observed: &Observed) -> Vec<FieldChange> {
    let want = flatten(&serde_json::to_value(&desired.spec).expect("spec serialises"));
    let have = flatten(&serde_json::to_value(&observed.spec).expect("spec serialises"));
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = want.keys().chain(have.keys()).collect();
    for k in keys {
        if !desired.spec.compared(k, observed) {
            continue;
        }
        let a = have.get(k).cloned().unwrap_or(Value::Null);
        let b = want.get(k).cloned().unwrap_or(Value::Null);
        let policy = policy_field(k);
        let equal = if policy {
            comparable(k, &a) == comparable(k, &b)
        } else {
            a == b
        };
        if !equal {
            out.push(FieldChange {
                field: k.clone(),
                before: a,
                after: b,
                policy,
                forces_replacement: desired.spec.immutable(k),
            });
        }
    }
    if observed.pending_deletion {
        out.push(FieldChange {
            field: "pending_deletion".into(),
            before: Value::Bool(true),
            after: Value::Bool(false),
            policy: false,
            forces_replacement: false,
        });
    }
    // Tags: per key, so a reviewer sees exactly which.
    let tag_keys: BTreeSet<&String> = desired.tags.keys().chain(observed.tags.keys()).collect();
    for k in tag_keys {
        let a = observed.tags.get(k);
        let b = desired.tags.get(k);
        if a != b {
            out.push(FieldChange {
                field: format!("tags.{k}"),
                before: a.map_or(Value::Null, |v| Value::String(v.clone())),
                after: b.map_or(Value::Null, |v| Value::String(v.clone())),
                policy: false,
                forces_replacement: false,
            });
        }
    }
    out
}

fn comparable(field: &str, v: &Value) -> Value {
    match (field, v) {
        (_, Value::Null) => Value::Null,
        ("policy_statements", Value::Array(a)) if a.is_empty() => Value::Null,
        ("policy_statements", Value::Array(a)) => canonical_statements(a),
        _ => canonical(v),
    }
}

/// Top-level fields of a spec, with `inline_policies` split per policy name.
fn flatten(spec: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Value::Object(m) = spec {
        for (k, v) in m {
            if k == "inline_policies" {
                if let Value::Object(p) = v {
                    for (name, doc) in p {
                        out.insert(format!("inline_policies.{name}"), doc.clone());
                    }
                }
                continue;
            }
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{RoleSpec, Spec};

    fn example() -> Expansion {
        crate::fixtures::flow1()
    }

    /// The state tether itself would leave behind after applying `e`.
    fn applied(e: &Expansion) -> State {
        let mut s = State::default();
        for r in &e.resources {
            s.resources
                .insert(r.address.clone(), Some(Observed::as_created(r)));
        }
        s
    }

    fn empty(e: &Expansion) -> State {
        let mut s = State::default();
        for r in &e.resources {
            s.resources.insert(r.address.clone(), None);
        }
        s
    }

    #[test]
    fn an_empty_world_creates_everything_in_dependency_order() {
        let e = example();
        let plan = diff(&e, &empty(&e), "x", &Options::default()).unwrap();
        assert_eq!(plan.summary().add, e.resources.len());
        let pos = |a: &str| {
            plan.changes
                .iter()
                .position(|c| c.address.as_str() == a)
                .unwrap()
        };
        for c in &plan.changes {
            for d in &c.after.as_ref().unwrap().depends_on {
                assert!(
                    pos(d.as_str()) < pos(c.address.as_str()),
                    "{d} before {}",
                    c.address
                );
            }
        }
    }

    #[test]
    fn what_tether_applied_plans_no_changes() {
        let e = example();
        let plan = diff(&e, &applied(&e), "x", &Options::default()).unwrap();
        assert!(
            !plan.has_changes(),
            "{:#?}",
            plan.changes
                .iter()
                .filter(|c| c.action != Action::NoOp)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_targets_input_transformer_is_compared_by_meaning() {
        let e = example();
        let a = Address(
            "tools/us-east-1/event_target.flow1-triggers/flow1-on-upload-start/pipeline-release"
                .into(),
        );
        let with = |f: &dyn Fn(&mut Option<crate::resource::InputTransformer>)| {
            let mut s = applied(&e);
            let Some(Some(o)) = s.resources.get_mut(&a) else {
                panic!()
            };
            let Spec::EventTarget(t) = &mut o.spec else {
                panic!()
            };
            assert!(t.input_transformer.is_some(), "flow 1 passes the version");
            f(&mut t.input_transformer);
            let plan = diff(&e, &s, "x", &Options::default()).unwrap();
            plan.changes
                .into_iter()
                .filter(|c| c.action != Action::NoOp)
                .map(|c| {
                    let fields: Vec<String> = c.changes.iter().map(|f| f.field.clone()).collect();
                    (c.address.0, fields)
                })
                .collect::<Vec<_>>()
        };
        // Another tool's spacing and key order: the template EventBridge holds means the same.
        let spaced = "{\n  \"sourceRevisions\": [ { \"revisionValue\": \"<revisionValue>\",\n  \"revisionType\": \"S3_OBJECT_VERSION_ID\", \"actionName\": \"source\" } ]\n}";
        assert_eq!(
            with(&|x| x.as_mut().unwrap().input_template =
                crate::resource::InputTransformer::template_value(spaced)),
            []
        );
        let drift = vec![(a.0.clone(), vec!["input_transformer".to_string()])];
        assert_eq!(
            with(
                &|x| x.as_mut().unwrap().input_template["sourceRevisions"][0]["actionName"] =
                    "other".into()
            ),
            drift
        );
        assert_eq!(
            with(&|x| {
                x.as_mut()
                    .unwrap()
                    .input_paths
                    .insert("revisionValue".into(), "$.detail.object.key".into());
            }),
            drift
        );
        assert_eq!(with(&|x| *x = None), drift);
    }

    #[test]
    fn a_key_is_named_by_the_arn_of_the_key_behind_its_alias() {
        let e = example();
        let pipeline = Address("tools/us-east-1/pipeline.flow1-release".into());
        let key = Address("tools/us-east-1/kms_key.flow1-artifacts".into());
        // The live key's ARN is what every place that names the key must hold.
        let mut s = applied(&e);
        let real = "arn:aws:kms:us-east-1:111111111111:key/0b9f4c52-0000-4000-8000-000000000001";
        let Some(Some(o)) = s.resources.get_mut(&key) else {
            panic!()
        };
        let Spec::KmsKey(k) = &mut o.spec else {
            panic!()
        };
        k.arn = real.into();
        let plan = diff(&e, &s, "x", &Options::default()).unwrap();
        let p = plan.changes.iter().find(|c| c.address == pipeline).unwrap();
        assert_eq!(p.action, Action::Update, "the pipeline held the stand-in");
        assert_eq!(
            p.after
                .as_ref()
                .unwrap()
                .pipeline()
                .unwrap()
                .artifact_stores["us-east-1"]
                .key,
            real
        );
        assert!(p.unknowns.is_empty());
        // Once the pipeline holds it, nothing differs; an alias ARN would.
        let Some(Some(o)) = s.resources.get_mut(&pipeline) else {
            panic!()
        };
        let Spec::Pipeline(x) = &mut o.spec else {
            panic!()
        };
        x.artifact_stores.get_mut("us-east-1").unwrap().key = real.into();
        let plan = diff(&e, &s, "x", &Options::default()).unwrap();
        let p = plan.changes.iter().find(|c| c.address == pipeline).unwrap();
        assert_eq!(p.action, Action::NoOp);
        let Some(Some(o)) = s.resources.get_mut(&pipeline) else {
            panic!()
        };
        let Spec::Pipeline(x) = &mut o.spec else {
            panic!()
        };
        x.artifact_stores.get_mut("us-east-1").unwrap().key =
            "arn:aws:kms:us-east-1:111111111111:alias/flow1-artifacts".into();
        let plan = diff(&e, &s, "x", &Options::default()).unwrap();
        let p = plan.changes.iter().find(|c| c.address == pipeline).unwrap();
        assert_eq!(p.action, Action::Update);
        assert_eq!(p.changes[0].field, "artifact_stores");
    }

    #[test]
    fn reordered_policies_are_not_drift_but_edits_are() {
        let e = example();
        let mut s = applied(&e);
        let addr = Address("app/global/iam_role.flow1-on-upload-forward".into());
        let o = s.resources.get_mut(&addr).unwrap().as_mut().unwrap();
        let Spec::IamRole(RoleSpec { trust_policy, .. }) = &mut o.spec else {
            panic!()
        };
        trust_policy.statement.reverse();
        let plan = diff(&e, &s, "x", &Options::default()).unwrap();
        assert!(!plan.has_changes());

        let o = s.resources.get_mut(&addr).unwrap().as_mut().unwrap();
        let Spec::IamRole(RoleSpec {
            inline_policies, ..
        }) = &mut o.spec
        else {
            panic!()
        };
        inline_policies.clear();
        o.tags.remove("tether:address");
        let plan = diff(&e, &s, "x", &Options::default()).unwrap();
        let c: Vec<_> = plan
            .changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .collect();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].action, Action::Update);
        let fields: Vec<&str> = c[0].changes.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["inline_policies.tether", "tags.tether:address"]);
        assert!(c[0].changes[0].policy);
    }

    #[test]
    fn a_changed_role_path_is_a_replacement() {
        let e = example();
        let mut s = applied(&e);
        let addr = Address("app/global/iam_role.flow1-on-upload-forward".into());
        let o = s.resources.get_mut(&addr).unwrap().as_mut().unwrap();
        let Spec::IamRole(r) = &mut o.spec else {
            panic!()
        };
        r.path = "/elsewhere/".into();
        let plan = diff(&e, &s, "x", &Options::default()).unwrap();
        let c = plan.changes.iter().find(|c| c.address == addr).unwrap();
        assert_eq!(c.action, Action::Replace);
        assert_eq!(c.reason, "path cannot change in place");
    }

    #[test]
    fn unowned_resources_are_errors_unless_adopted() {
        let e = example();
        let mut s = applied(&e);
        let addr = Address("app/us-east-1/s3_bucket.flow1-app-uploads".into());
        s.resources.get_mut(&addr).unwrap().as_mut().unwrap().owner = Owner::Nobody;
        let errors = diff(&e, &s, "x", &Options::default()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0]
            .to_string()
            .contains("exists and is not managed by this topology"));
    }

    #[test]
    fn owned_leftovers_are_deleted_unless_protected() {
        let e = example();
        let mut s = applied(&e);
        let mut gone = s.resources[&Address("app/us-east-1/s3_bucket.flow1-app-uploads".into())]
            .clone()
            .unwrap();
        gone.address = Address("app/us-east-1/s3_bucket.old".into());
        s.resources.insert(gone.address.clone(), Some(gone.clone()));
        let plan = diff(&e, &s, "x", &Options::default()).unwrap();
        assert_eq!(plan.summary().destroy, 1);
        gone.tags
            .insert("tether:lifecycle".into(), "protect".into());
        s.resources.insert(gone.address.clone(), Some(gone));
        let plan = diff(&e, &s, "x", &Options::default()).unwrap();
        assert_eq!(plan.summary().destroy, 0);
        let kept = plan
            .changes
            .iter()
            .find(|c| c.address.as_str() == "app/us-east-1/s3_bucket.old")
            .unwrap();
        assert!(kept.reason.starts_with("kept"));
    }

    #[test]
    fn an_adopted_role_keeps_its_path() {
        let e = example();
        let mut s = applied(&e);
        let addr = Address("app/global/iam_role.flow1-on-upload-forward".into());
        let o = s.resources.get_mut(&addr).unwrap().as_mut().unwrap();
        o.owner = Owner::Nobody;
        o.tags.clear();
        let Spec::IamRole(r) = &mut o.spec else {
            panic!()
        };
        r.path = "/".into();
        let mut e2 = e.clone();
        for r in &mut e2.resources {
            if let Spec::IamRole(x) = &mut r.spec {
                x.adopt = true;
            }
        }
        let plan = diff(&e2, &s, "x", &Options::default()).unwrap();
        let c = plan.changes.iter().find(|c| c.address == addr).unwrap();
        assert_eq!(c.action, Action::Update, "{:?}", c.changes);
        assert!(c.changes.iter().all(|f| f.field != "path"));
    }

    #[test]
    fn an_adopted_source_bucket_without_versioning_plans_turning_it_on() {
        // A triggered pipeline runs on the uploaded version, which exists only in a
        // versioned bucket: adopting an unversioned one is a change the plan shows.
        let e = example();
        let addr = Address("app/us-east-1/s3_bucket.flow1-app-uploads".into());
        let mut s = applied(&e);
        let o = s.resources.get_mut(&addr).unwrap().as_mut().unwrap();
        o.owner = Owner::Nobody;
        o.tags.clear();
        let Spec::S3Bucket(b) = &mut o.spec else {
            panic!()
        };
        b.versioning = false;
        let mut e2 = e.clone();
        for r in &mut e2.resources {
            if let Spec::S3Bucket(x) = &mut r.spec {
                x.adopt = true;
            }
        }
        let plan = diff(&e2, &s, "x", &Options::default()).unwrap();
        let c = plan.changes.iter().find(|c| c.address == addr).unwrap();
        assert_eq!(c.action, Action::Update, "{:?}", c.changes);
        let v = c.changes.iter().find(|f| f.field == "versioning").unwrap();
        assert_eq!(
            (&v.before, &v.after),
            (&Value::Bool(false), &Value::Bool(true))
        );
    }

    #[test]
    fn targets_include_their_dependencies_only() {
        let e = example();
        let target =
            Address("app/us-east-1/event_target.default/flow1-on-upload-forward/bus".into());
        let plan = diff(
            &e,
            &empty(&e),
            "x",
            &Options {
                targets: vec![target.clone()],
            },
        )
        .unwrap();
        let got: BTreeSet<&str> = plan.changes.iter().map(|c| c.address.as_str()).collect();
        let want: BTreeSet<&str> = [
            target.as_str(),
            "app/us-east-1/event_rule.default/flow1-on-upload-forward",
            "app/global/iam_role.flow1-on-upload-forward",
            "tools/us-east-1/event_bus.flow1-triggers",
            // Its dead-letter queue, which it names.
            "app/us-east-1/sqs_queue.flow1-dead-letter",
        ]
        .into();
        assert_eq!(got, want);
    }

    #[test]
    fn a_principal_shown_as_a_unique_id_is_broken_trust_and_repaired() {
        let e = example();
        let mut s = applied(&e);
        let addr = Address("app/global/iam_role.flow1-release-source".into());
        let o = s.resources.get_mut(&addr).unwrap().as_mut().unwrap();
        let Spec::IamRole(r) = &mut o.spec else {
            panic!()
        };
        // What AWS shows after the pipeline role was deleted and created again.
        r.trust_policy.statement[0].principal = Some(crate::expand::policy::Principal::Aws(
            ["AROAEXAMPLEID123456"].into(),
        ));
        o.broken_principals.insert("AROAEXAMPLEID123456".into());
        let plan = diff(&e, &s, "x", &Options::default()).unwrap();
        let c = plan.changes.iter().find(|c| c.address == addr).unwrap();
        assert_eq!(c.action, Action::Update);
        assert!(
            c.reason.starts_with("broken trust: AROAEXAMPLEID123456"),
            "{}",
            c.reason
        );
        assert_eq!(c.changes[0].field, "trust_policy");
    }
}
