//! A saved plan cannot grant what the topology does not say. Pure: no I/O.
//!
//! A plan file travels between CI jobs (made on the pull request, applied on merge) and
//! can be edited on the way. The staleness check proves that the topology file and
//! everything the plan observed are unchanged; it says nothing about the plan's own
//! desired values. This check does. With the topology and the observed state unchanged,
//! the diff is deterministic, so each change of an untouched plan is exactly the change a
//! fresh plan makes at its address, and its desired resource (`after`) is exactly the
//! one the expansion derives. Everything apply reads from a change must match:
//!
//! - `action`: it decides what is done at all (a delete, a replace);
//! - `after`, compared with the expansion: what is written;
//! - `kind`, `account`, `account_id`, `region`: where it is written (the executor opens
//!   clients for the change's account and region) and how deletions are ordered;
//! - `changes`: not only display data, since an update writes exactly the fields named
//!   there; their values are display data, but an untouched plan always has the fresh
//!   plan's values, so requiring them costs nothing and keeps what a reviewer reads true;
//! - `reason`: display data only, held to the same rule for the same reason;
//! - `before`: what deletions and replacements remove (names, the KMS key id) and the
//!   tags an update takes away. The fingerprint check compares fingerprint strings only,
//!   never the `before` value itself;
//! - the plan's `topology` name, which prefixes the `Sid`s apply manages inside shared
//!   policies.
//!
//! The fingerprint is the staleness check's and is not compared here. A saved plan may
//! hold fewer changes than a fresh one (a plan made with `--target`): leaving a change
//! out does less, never more.

use super::{unknown, Action, Plan, ResourceChange};
use crate::expand::Expansion;
use crate::resource::{Address, Resource};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// How many differences one line shows before counting the rest.
const SHOWN: usize = 3;
/// How many characters of a value a line shows.
const VALUE_CHARS: usize = 60;

/// A saved plan asks for something the topology does not imply: a first line, then one
/// line per address, starting with the address.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "plan asks for what the topology does not imply, so nothing was applied; make a new plan:\n{}",
    .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
)]
pub struct Mismatch(pub Vec<Discrepancy>);

/// One line of a [`Mismatch`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Discrepancy {
    /// The plan names another topology.
    #[error("topology: the plan names `{saved}`, the topology file is `{implied}`")]
    Topology { saved: String, implied: String },
    /// What differs at one address.
    #[error("{address}: {}", shown(problems))]
    Resource {
        address: Address,
        problems: Vec<Problem>,
    },
}

/// One difference between a saved change and what the topology implies.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("listed more than once in the plan")]
    Duplicate,
    /// Neither the topology nor what is live calls for a change at this address.
    #[error("{} is not implied: {}", .action.verb(), if *.in_topology {
        "the topology implies no change here"
    } else {
        "the address is not in the topology and nothing the topology owns is there"
    })]
    NotImplied { action: Action, in_topology: bool },
    #[error("action is {}, the topology implies {}", .saved.verb(), .implied.verb())]
    Action { saved: Action, implied: Action },
    /// A value at `path` (`after.trust_policy.Statement[0].Principal.AWS`). `live` when
    /// the value compared with is what was observed rather than what is desired.
    #[error("{}", field(path, saved.as_ref(), implied.as_ref(), *live))]
    Field {
        path: String,
        saved: Option<Value>,
        implied: Option<Value>,
        live: bool,
    },
    /// The values differ but their JSON forms do not: there is no path to show.
    #[error("{field} differs from what the topology implies")]
    Value { field: String },
}

fn shown(problems: &[Problem]) -> String {
    let mut parts: Vec<String> = problems.iter().take(SHOWN).map(|p| p.to_string()).collect();
    if problems.len() > SHOWN {
        let n = problems.len() - SHOWN;
        parts.push(format!(
            "and {n} more difference{}",
            if n == 1 { "" } else { "s" }
        ));
    }
    parts.join("; ")
}

fn field(path: &str, saved: Option<&Value>, implied: Option<&Value>, live: bool) -> String {
    let (is, absent) = if live {
        ("live it is", "nothing like it is live")
    } else {
        ("the topology implies", "not in the topology")
    };
    match (saved, implied) {
        (Some(s), Some(i)) => format!("{path} is {}, {is} {}", brief(s), brief(i)),
        (Some(s), None) => format!("{path} is {}, {absent}", brief(s)),
        (None, Some(i)) => format!("{path} is missing, {is} {}", brief(i)),
        (None, None) => format!("{path} differs"),
    }
}

/// A value on one line, cut short when long.
fn brief(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(VALUE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// Everything in `saved` that `expansion` (the topology) and `fresh` (a plan made now
/// from the same topology and the same observed state) do not imply, one entry per
/// address, in the saved plan's order. Empty when the saved plan may be executed.
pub fn discrepancies(saved: &Plan, expansion: &Expansion, fresh: &Plan) -> Vec<Discrepancy> {
    let mut out = Vec::new();
    if saved.topology != expansion.topology {
        out.push(Discrepancy::Topology {
            saved: saved.topology.clone(),
            implied: expansion.topology.clone(),
        });
    }
    let implied: BTreeMap<&Address, &ResourceChange> =
        fresh.changes.iter().map(|c| (&c.address, c)).collect();
    // The topology's values with what AWS assigned (a key's ARN) as the fresh plan
    // observed it: a saved plan's `after` holds them, or `(known after apply)` where
    // nothing holds them yet, with `unknowns` saying where apply puts them.
    let known = unknown::known(fresh.changes.iter().filter_map(|c| c.before.as_ref()));
    let mut count: BTreeMap<&Address, usize> = BTreeMap::new();
    for c in &saved.changes {
        *count.entry(&c.address).or_default() += 1;
    }
    // One line per address, in first-seen order; copies of a duplicated address add theirs.
    let mut lines: Vec<(&Address, Vec<Problem>)> = Vec::new();
    let mut line_of: BTreeMap<&Address, usize> = BTreeMap::new();
    for c in &saved.changes {
        let desired = expansion
            .get(c.address.as_str())
            .map(|r| unknown::resolve(r, &known));
        let mut problems = compare(
            c,
            desired.as_ref().map(|(r, u)| (r, u)),
            implied.get(&c.address).copied(),
        );
        if count[&c.address] > 1 && !line_of.contains_key(&c.address) {
            problems.insert(0, Problem::Duplicate);
        }
        let i = *line_of.entry(&c.address).or_insert_with(|| {
            lines.push((&c.address, Vec::new()));
            lines.len() - 1
        });
        for p in problems {
            if !lines[i].1.contains(&p) {
                lines[i].1.push(p);
            }
        }
    }
    out.extend(
        lines
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(a, problems)| Discrepancy::Resource {
                address: a.clone(),
                problems,
            }),
    );
    out
}

/// One saved change against the resource the topology derives at its address and the
/// change a fresh plan makes there.
fn compare(
    saved: &ResourceChange,
    desired: Option<(&Resource, &unknown::Unknowns)>,
    fresh: Option<&ResourceChange>,
) -> Vec<Problem> {
    let Some(fresh) = fresh else {
        return vec![Problem::NotImplied {
            action: saved.action,
            in_topology: desired.is_some(),
        }];
    };
    // The action decides which of the other values matter: a change with another action
    // is refused whole, and what follows from the action is not listed.
    if saved.action != fresh.action {
        return vec![Problem::Action {
            saved: saved.action,
            implied: fresh.action,
        }];
    }
    let mut problems = Vec::new();
    for (path, s, f) in [
        ("kind", &saved.kind, &fresh.kind),
        ("account", &saved.account, &fresh.account),
        ("account_id", &saved.account_id, &fresh.account_id),
        ("region", &saved.region, &fresh.region),
        ("reason", &saved.reason, &fresh.reason),
    ] {
        if s != f {
            problems.push(Problem::Field {
                path: path.into(),
                saved: Some(Value::String(s.clone())),
                implied: Some(Value::String(f.clone())),
                live: false,
            });
        }
    }
    // The desired value is the topology's own: a deletion's is absent, since a deleted
    // address is not in the expansion. Where apply fills in values is the topology's
    // too: an edited `unknowns` could put one key's ARN where another's belongs.
    let (desired, unknowns) = desired.unzip();
    if saved.after.as_ref() != desired {
        values(&mut problems, "after", &saved.after, &desired, false);
    }
    let no_unknowns = unknown::Unknowns::new();
    let unknowns = unknowns.unwrap_or(&no_unknowns);
    if &saved.unknowns != unknowns {
        values(&mut problems, "unknowns", &saved.unknowns, unknowns, false);
    }
    if saved.changes != fresh.changes {
        values(
            &mut problems,
            "changes",
            &saved.changes,
            &fresh.changes,
            false,
        );
    }
    if saved.before != fresh.before {
        values(&mut problems, "before", &saved.before, &fresh.before, true);
    }
    problems
}

/// The paths at which two values differ, found through their JSON forms.
fn values<S: Serialize, I: Serialize>(
    out: &mut Vec<Problem>,
    name: &str,
    saved: &S,
    implied: &I,
    live: bool,
) {
    let s = serde_json::to_value(saved).expect("plan values serialise");
    let i = serde_json::to_value(implied).expect("plan values serialise");
    let before = out.len();
    paths(name, present(&s), present(&i), live, out);
    if out.len() == before {
        out.push(Problem::Value { field: name.into() });
    }
}

fn present(v: &Value) -> Option<&Value> {
    (!v.is_null()).then_some(v)
}

fn paths(
    path: &str,
    saved: Option<&Value>,
    implied: Option<&Value>,
    live: bool,
    out: &mut Vec<Problem>,
) {
    match (saved, implied) {
        (Some(Value::Object(s)), Some(Value::Object(i))) => {
            let mut keys: Vec<&String> = s.keys().chain(i.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                paths(
                    &format!("{path}.{k}"),
                    s.get(k).and_then(present),
                    i.get(k).and_then(present),
                    live,
                    out,
                );
            }
        }
        (Some(Value::Array(s)), Some(Value::Array(i))) => {
            for n in 0..s.len().max(i.len()) {
                paths(&format!("{path}[{n}]"), s.get(n), i.get(n), live, out);
            }
        }
        (s, i) if s != i => out.push(Problem::Field {
            path: path.to_string(),
            saved: s.cloned(),
            implied: i.cloned(),
            live,
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::diff::{diff, Options};
    use crate::resource::{RoleSpec, Spec};
    use crate::state::{Observed, State};
    use serde_json::json;
    use std::collections::BTreeSet;

    const FORWARD: &str = "app/global/iam_role.flow1-on-upload-forward";
    const START: &str = "tools/global/iam_role.flow1-on-upload-start";

    fn example() -> Expansion {
        crate::fixtures::flow1()
    }

    fn observed(r: &Resource) -> Observed {
        Observed::as_created(r)
    }

    /// Nothing exists yet: the plan creates everything.
    fn empty(e: &Expansion) -> State {
        let mut s = State::default();
        for r in &e.resources {
            s.resources.insert(r.address.clone(), None);
        }
        s
    }

    /// Everything applied but the event targets (creations), then: the forward role lost
    /// its inline policy (an update), the start role's path changed (a replacement), and
    /// an owned leftover KMS key remains (a deletion).
    ///
    /// The targets stay absent because an observed event target does not parse back from
    /// a plan file: its spec's `id` and `Observed::id` share one JSON key (a separate bug).
    fn drifted(e: &Expansion) -> State {
        let mut s = State::default();
        for r in &e.resources {
            let seen = !matches!(r.spec, Spec::EventTarget(_));
            s.resources
                .insert(r.address.clone(), seen.then(|| observed(r)));
        }
        let o = s.resources.get_mut(&Address(FORWARD.into())).unwrap();
        let Spec::IamRole(RoleSpec {
            inline_policies, ..
        }) = &mut o.as_mut().unwrap().spec
        else {
            panic!()
        };
        inline_policies.clear();
        let o = s.resources.get_mut(&Address(START.into())).unwrap();
        let Spec::IamRole(r) = &mut o.as_mut().unwrap().spec else {
            panic!()
        };
        r.path = "/elsewhere/".into();
        let key = e.get("tools/us-east-1/kms_key.flow1-artifacts").unwrap();
        let mut old = observed(key);
        old.address = Address("tools/us-east-1/kms_key.old".into());
        old.id = Some("1234abcd-0000-0000-0000-000000000001".into());
        s.resources.insert(old.address.clone(), Some(old));
        s
    }

    fn plan(e: &Expansion, s: &State) -> Plan {
        diff(e, s, "sha", &Options::default()).unwrap()
    }

    /// The plan as a file holds it: JSON, to edit as someone would.
    fn file(p: &Plan) -> Value {
        serde_json::to_value(p).unwrap()
    }

    fn read(v: Value) -> Plan {
        serde_json::from_value(v).unwrap()
    }

    fn change<'a>(v: &'a mut Value, address: &str) -> &'a mut Value {
        v["changes"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|c| c["address"] == address)
            .unwrap_or_else(|| panic!("no change at {address}"))
    }

    /// The lines of the refusal, each checked to name exactly one address first.
    fn refused(saved: &Plan, e: &Expansion, fresh: &Plan) -> Vec<String> {
        let found = discrepancies(saved, e, fresh);
        assert!(!found.is_empty(), "the plan was not refused");
        let message = Mismatch(found.clone()).to_string();
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), found.len() + 1, "{message}");
        for l in &lines {
            assert!(!l.ends_with('.'), "no trailing period: {l}");
        }
        found.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_untouched_plan_passes_after_a_round_trip_through_its_file() {
        let e = example();
        for state in [empty(&e), drifted(&e)] {
            let fresh = plan(&e, &state);
            let saved: Plan =
                serde_json::from_str(&serde_json::to_string_pretty(&fresh).unwrap()).unwrap();
            assert_eq!(discrepancies(&saved, &e, &fresh), []);
        }
        // The drifted world has every kind of change.
        let actions: BTreeSet<Action> = plan(&e, &drifted(&e))
            .changes
            .iter()
            .map(|c| c.action)
            .collect();
        assert_eq!(
            actions,
            [
                Action::Create,
                Action::Update,
                Action::Replace,
                Action::Delete,
                Action::NoOp
            ]
            .into()
        );
    }

    #[test]
    fn a_plan_made_with_targets_is_a_subset_and_passes() {
        let e = example();
        let fresh = plan(&e, &drifted(&e));
        let mut saved = fresh.clone();
        saved
            .changes
            .retain(|c| c.address.as_str() == FORWARD || c.action == Action::Delete);
        assert_eq!(saved.changes.len(), 2);
        assert_eq!(discrepancies(&saved, &e, &fresh), []);
    }

    #[test]
    fn a_widened_action_in_an_inline_policy_is_refused() {
        let e = example();
        let fresh = plan(&e, &empty(&e));
        let mut v = file(&fresh);
        let statement =
            &mut change(&mut v, FORWARD)["after"]["inline_policies"]["tether"]["Statement"][0];
        assert_eq!(statement["Action"], "events:PutEvents");
        statement["Action"] = json!("events:*");
        let lines = refused(&read(v), &e, &fresh);
        assert_eq!(
            lines,
            [format!(
                "{FORWARD}: after.inline_policies.tether.Statement[0].Action is \"events:*\", the topology implies \"events:PutEvents\""
            )]
        );
    }

    #[test]
    fn a_redirected_value_known_after_apply_is_refused() {
        // The pipeline's store key is known after apply: moving where apply puts it, or
        // writing a value in its place, is refused like any other edit.
        let e = example();
        let fresh = plan(&e, &empty(&e));
        let pipeline = "tools/us-east-1/pipeline.flow1-release";
        let key = "tools/us-east-1/kms_key.flow1-artifacts";
        let mut v = file(&fresh);
        let c = change(&mut v, pipeline);
        assert_eq!(
            c["unknowns"]["/artifact_stores/us-east-1/key"],
            json!([key])
        );
        c["unknowns"]["/artifact_stores/us-east-1/key"] = json!(["tools/us-east-1/kms_key.other"]);
        let lines = refused(&read(v), &e, &fresh);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(&format!("{pipeline}: unknowns")),
            "{lines:?}"
        );

        let mut v = file(&fresh);
        let c = change(&mut v, pipeline);
        assert_eq!(
            c["after"]["artifact_stores"]["us-east-1"]["key"],
            "(known after apply)"
        );
        c["after"]["artifact_stores"]["us-east-1"]["key"] =
            json!("arn:aws:kms:us-east-1:999999999999:key/someone-elses");
        let lines = refused(&read(v), &e, &fresh);
        assert_eq!(
            lines,
            [format!(
                "{pipeline}: after.artifact_stores.us-east-1.key is \"arn:aws:kms:us-east-1:999999999999:key/someone-elses\", the topology implies \"(known after apply)\""
            )]
        );
    }

    #[test]
    fn a_swapped_trust_principal_is_refused() {
        let e = example();
        let fresh = plan(&e, &empty(&e));
        let mut v = file(&fresh);
        let principal =
            &mut change(&mut v, START)["after"]["trust_policy"]["Statement"][0]["Principal"];
        assert_eq!(principal, &json!({"Service": "events.amazonaws.com"}));
        *principal = json!({"AWS": "arn:aws:iam::999999999999:root"});
        let lines = refused(&read(v), &e, &fresh);
        assert_eq!(
            lines,
            [format!(
                "{START}: after.trust_policy.Statement[0].Principal.AWS is \"arn:aws:iam::999999999999:root\", not in the topology; after.trust_policy.Statement[0].Principal.Service is missing, the topology implies \"events.amazonaws.com\""
            )]
        );
    }

    #[test]
    fn an_added_delete_is_refused() {
        let e = example();
        let fresh = plan(&e, &drifted(&e));
        // Someone else's bucket, which the plan never observed as this topology's.
        let mut v = file(&fresh);
        let mut extra = change(&mut v, "tools/us-east-1/kms_key.old").clone();
        extra["address"] = json!("app/us-east-1/s3_bucket.someone-elses");
        extra["before"]["address"] = extra["address"].clone();
        v["changes"].as_array_mut().unwrap().push(extra);
        // And the deletion of a resource the topology has.
        let mut bus = change(&mut v, "tools/us-east-1/event_bus.flow1-triggers").clone();
        bus["action"] = json!("delete");
        bus["after"] = Value::Null;
        *change(&mut v, "tools/us-east-1/event_bus.flow1-triggers") = bus;
        let lines = refused(&read(v), &e, &fresh);
        assert_eq!(
            lines,
            [
                "tools/us-east-1/event_bus.flow1-triggers: action is delete, the topology implies no-op",
                "app/us-east-1/s3_bucket.someone-elses: delete is not implied: the address is not in the topology and nothing the topology owns is there",
            ]
        );
    }

    #[test]
    fn an_added_create_of_an_unknown_address_is_refused() {
        let e = example();
        let fresh = plan(&e, &empty(&e));
        let mut v = file(&fresh);
        let mut extra = change(&mut v, FORWARD).clone();
        extra["address"] = json!("app/global/iam_role.intruder");
        extra["after"]["address"] = extra["address"].clone();
        extra["after"]["name"] = json!("intruder");
        v["changes"].as_array_mut().unwrap().push(extra);
        let lines = refused(&read(v), &e, &fresh);
        assert_eq!(
            lines,
            ["app/global/iam_role.intruder: create is not implied: the address is not in the topology and nothing the topology owns is there"]
        );
    }

    #[test]
    fn a_changed_action_is_refused() {
        let e = example();
        let fresh = plan(&e, &drifted(&e));
        let mut v = file(&fresh);
        let c = change(&mut v, FORWARD);
        assert_eq!(c["action"], "update");
        c["action"] = json!("replace");
        let lines = refused(&read(v), &e, &fresh);
        assert_eq!(
            lines,
            [format!(
                "{FORWARD}: action is replace, the topology implies update"
            )]
        );
    }

    #[test]
    fn a_tampered_after_is_refused_even_with_a_doctored_changes_list() {
        let e = example();
        let fresh = plan(&e, &drifted(&e));
        fn widened(v: &mut Value) -> &mut Value {
            let c = change(v, FORWARD);
            c["after"]["inline_policies"]["tether"]["Statement"][0]["Action"] = json!("events:*");
            c
        }
        // The field change made to agree with the widened value…
        let mut v = file(&fresh);
        let c = widened(&mut v);
        assert_eq!(c["changes"][0]["field"], "inline_policies.tether");
        c["changes"][0]["after"] = c["after"]["inline_policies"]["tether"].clone();
        let lines = refused(&read(v), &e, &fresh);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with(&format!(
                "{FORWARD}: after.inline_policies.tether.Statement[0].Action is \"events:*\", the topology implies \"events:PutEvents\"; changes[0].after.Statement[0].Action is \"events:*\""
            )),
            "{}",
            lines[0]
        );
        // …or removed, with the reason saying nothing changes.
        let mut v = file(&fresh);
        let c = widened(&mut v);
        c["changes"] = json!([]);
        c["reason"] = json!("up to date");
        let lines = refused(&read(v), &e, &fresh);
        assert_eq!(
            lines,
            [format!(
                "{FORWARD}: reason is \"up to date\", the topology implies \"1 field differs from the topology\"; after.inline_policies.tether.Statement[0].Action is \"events:*\", the topology implies \"events:PutEvents\"; changes[0] is missing, the topology implies {{\"after\":{{\"Statement\":[{{\"Action\":\"events:PutEvents\",\"Effect\"…"
            )]
        );
    }

    #[test]
    fn where_and_what_is_removed_must_match_too() {
        let e = example();
        let fresh = plan(&e, &drifted(&e));
        let mut v = file(&fresh);
        // Another account's session for the update; another key for the deletion.
        change(&mut v, FORWARD)["account"] = json!("tools");
        change(&mut v, "tools/us-east-1/kms_key.old")["before"]["aws_id"] = json!("other-key");
        v["topology"] = json!("other");
        let lines = refused(&read(v), &e, &fresh);
        assert_eq!(
            lines,
            [
                "topology: the plan names `other`, the topology file is `flow1`".to_string(),
                format!("{FORWARD}: account is \"tools\", the topology implies \"app\""),
                "tools/us-east-1/kms_key.old: before.aws_id is \"other-key\", live it is \"1234abcd-0000-0000-0000-000000000001\"".to_string(),
            ]
        );
    }

    #[test]
    fn a_duplicated_address_is_one_line() {
        let e = example();
        let fresh = plan(&e, &empty(&e));
        let mut v = file(&fresh);
        let mut copy = change(&mut v, FORWARD).clone();
        copy["after"]["managed_policies"] = json!(["arn:aws:iam::aws:policy/AdministratorAccess"]);
        v["changes"].as_array_mut().unwrap().push(copy);
        let lines = refused(&read(v), &e, &fresh);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(&format!("{FORWARD}: listed more than once in the plan; after.managed_policies is [\"arn:aws:iam::aws:policy/AdministratorAccess\"], not in the topology")),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn long_lists_of_differences_are_cut_short() {
        let e = example();
        let fresh = plan(&e, &empty(&e));
        let mut v = file(&fresh);
        let c = change(&mut v, FORWARD);
        for k in ["a", "b", "c", "d", "e"] {
            c["after"]["tags"][k] = json!("x");
        }
        let lines = refused(&read(v), &e, &fresh);
        assert!(
            lines[0]
                .ends_with("after.tags.c is \"x\", not in the topology; and 2 more differences"),
            "{}",
            lines[0]
        );
    }
}
