//! Plan output for people: text for terminals and CI logs, Markdown for pull requests.
//! (The JSON form is the [`Plan`] value itself, serialised.)

use super::normalize::{canonical, canonical_statements};
use super::{Action, FieldChange, Plan, ResourceChange};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// ANSI styles, used only when colour is on.
struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn action(&self, a: Action, text: &str) -> String {
        let code = match a {
            Action::Create => "32",
            Action::Update => "33",
            Action::Replace => "35",
            Action::Delete => "31",
            Action::NoOp => "2",
        };
        self.paint(code, text)
    }
}

/// Changes grouped by account and region, in plan order within each group.
fn groups(plan: &Plan) -> BTreeMap<(String, String, String), Vec<&ResourceChange>> {
    let mut g: BTreeMap<_, Vec<&ResourceChange>> = BTreeMap::new();
    for c in &plan.changes {
        if c.action == Action::NoOp && !c.reason.starts_with("kept") {
            continue;
        }
        g.entry((c.account.clone(), c.account_id.clone(), c.region.clone()))
            .or_default()
            .push(c);
    }
    g
}

/// Pretty JSON of a field value, in canonical form for policies so that diffs show
/// only changes in meaning.
fn pretty(field: &FieldChange, v: &Value) -> String {
    let v = match (field.policy, field.field.as_str(), v) {
        (_, _, Value::Null) => Value::Null,
        (true, "policy_statements", Value::Array(a)) => canonical_statements(a),
        (true, _, v) => canonical(v),
        (false, _, v) => v.clone(),
    };
    if v.is_null() {
        return String::new();
    }
    serde_json::to_string_pretty(&v).expect("json serialises") + "\n"
}

fn structured(f: &FieldChange) -> bool {
    f.policy
        || matches!(f.before, Value::Object(_) | Value::Array(_))
        || matches!(f.after, Value::Object(_) | Value::Array(_))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

fn unified(f: &FieldChange) -> String {
    let before = pretty(f, &f.before);
    let after = pretty(f, &f.after);
    similar::TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .header("live", "topology")
        .to_string()
}

/// Terraform-like text: symbols `+ ~ - -/+`, grouped by account and region, field-level
/// changes, unified diffs of policies, and the summary line.
pub fn text(plan: &Plan, color: bool) -> String {
    let st = Style { on: color };
    let mut out = String::new();
    if !plan.has_changes() {
        let kept = plan
            .changes
            .iter()
            .filter(|c| c.reason.starts_with("kept"))
            .count();
        let _ = writeln!(
            out,
            "No changes. Live AWS matches the topology `{}`.",
            plan.topology
        );
        if kept > 0 {
            let _ = writeln!(out, "({kept} resource(s) no longer in the topology are kept because they are protected.)");
        }
        let _ = writeln!(out, "\n{}", plan.summary());
        out.push_str(&notes(plan));
        return out;
    }
    if !plan.access.is_empty() {
        let _ = writeln!(out, "Access this plan grants or takes away:\n");
        for line in super::access::lines(&plan.access) {
            let _ = writeln!(out, "  {line}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "tether will perform the following actions:\n");
    for ((account, id, region), changes) in groups(plan) {
        let _ = writeln!(
            out,
            "{}",
            st.paint("1", &format!("# {account} ({id}) / {region}"))
        );
        for c in changes {
            let symbol = if c.action == Action::NoOp {
                "#"
            } else {
                c.action.symbol()
            };
            let _ = writeln!(
                out,
                "  {} {} {}",
                st.action(c.action, &format!("{symbol:>3}")),
                c.kind,
                c.address
            );
            let _ = writeln!(out, "        {}", st.paint("2", &c.reason));
            for f in &c.changes {
                let mark = if f.forces_replacement {
                    " (forces replacement)"
                } else {
                    ""
                };
                if structured(f) {
                    let _ = writeln!(out, "        ~ {}:{mark}", f.field);
                    for line in unified(f).lines() {
                        let styled = match line.chars().next() {
                            Some('+') if !line.starts_with("+++") => st.paint("32", line),
                            Some('-') if !line.starts_with("---") => st.paint("31", line),
                            _ => line.to_string(),
                        };
                        let _ = writeln!(out, "            {styled}");
                    }
                } else {
                    let _ = writeln!(
                        out,
                        "        ~ {}: {} -> {}{mark}",
                        f.field,
                        scalar(&f.before),
                        scalar(&f.after)
                    );
                }
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", plan.summary());
    out.push_str(&notes(plan));
    out
}

/// What the reviewer should know besides the changes: warnings, and the ownership
/// markers apply will write (bookkeeping, not counted in the summary).
fn notes(plan: &Plan) -> String {
    let mut out = String::new();
    for w in &plan.warnings {
        let _ = writeln!(out, "\nWarning: {w}");
    }
    for m in &plan.markers {
        let grown = m.grown();
        let added: Vec<&String> = match &m.before {
            None => grown.regions.iter().collect(),
            Some(b) => grown.regions.difference(&b.regions).collect(),
        };
        let dropped: Vec<&String> = grown.regions.difference(&m.after.regions).collect();
        let join = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        let what = match (&m.before, added.is_empty(), dropped.is_empty()) {
            (None, _, _) => format!("will be created (regions: {})", join(&added)),
            (Some(_), false, true) => format!("will add regions {}", join(&added)),
            (Some(_), true, false) => format!(
                "will drop regions {} once everything there is gone",
                join(&dropped)
            ),
            (Some(_), false, false) => format!(
                "will add regions {} and drop {} once everything there is gone",
                join(&added),
                join(&dropped)
            ),
            (Some(_), true, true) if m.needs_growth() || m.needs_pruning() => {
                "will be updated".to_string()
            }
            _ => continue,
        };
        let _ = writeln!(
            out,
            "\nOwnership marker in `{}` ({}) {what}.",
            m.account, m.account_id
        );
    }
    out
}

/// Markdown for a pull-request comment: a table per account and region, and collapsible
/// details holding the field changes and policy diffs.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### tether plan for `{}`\n", plan.topology);
    let _ = writeln!(out, "**{}**\n", plan.summary());
    for w in &plan.warnings {
        let _ = writeln!(out, "> **Warning:** {w}\n");
    }
    if !plan.has_changes() {
        let _ = writeln!(out, "No changes. Live AWS matches the topology.");
        return out;
    }
    if !plan.access.is_empty() {
        let _ = writeln!(out, "#### Access this plan grants or takes away\n");
        for line in super::access::lines(&plan.access) {
            let _ = writeln!(out, "- `{}` {}", &line[..1], &line[2..]);
        }
        out.push('\n');
    }
    for ((account, id, region), changes) in groups(plan) {
        let _ = writeln!(out, "#### `{account}` ({id}) · {region}\n");
        let _ = writeln!(out, "| | resource | reason |\n|---|---|---|");
        for c in &changes {
            let symbol = if c.action == Action::NoOp {
                "#"
            } else {
                c.action.symbol()
            };
            let _ = writeln!(
                out,
                "| `{symbol}` | `{}` | {} |",
                c.address,
                c.reason.replace('|', "\\|")
            );
        }
        out.push('\n');
        for c in changes.iter().filter(|c| !c.changes.is_empty()) {
            let _ = writeln!(
                out,
                "<details><summary><code>{} {}</code>: {} field(s)</summary>\n",
                c.action.symbol(),
                c.address,
                c.changes.len()
            );
            let _ = writeln!(out, "```diff");
            for f in &c.changes {
                if structured(f) {
                    let _ = writeln!(out, "~ {}:", f.field);
                    out.push_str(&unified(f));
                } else {
                    let _ = writeln!(
                        out,
                        "~ {}: {} -> {}",
                        f.field,
                        scalar(&f.before),
                        scalar(&f.after)
                    );
                }
            }
            let _ = writeln!(out, "```\n</details>\n");
        }
    }
    out
}
