//! Plan output for people: text for terminals and CI logs, Markdown for pull requests.
//! (The JSON form is the [`Plan`] value itself, serialised.)

use super::normalize::{display_compact, display_pretty, display_statements};
use super::{Action, FieldChange, Plan, ResourceChange};
use crate::flows::{Flow, Hop, Outcome, Verdict};
use crate::resource::Spec;
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

/// A field value for a unified diff: as AWS holds it (the live side as read, the desired
/// side as tether derives it), keys in AWS's order. Policies were compared by meaning
/// in the diff; what is shown is their own spelling, not the canonical form.
fn pretty(field: &FieldChange, v: &Value) -> String {
    match (field.field.as_str(), v) {
        (_, Value::Null) => String::new(),
        ("policy_statements", Value::Array(a)) => display_pretty(&display_statements(a)) + "\n",
        (_, v) => display_pretty(v) + "\n",
    }
}

/// One line of what a created or deleted resource holds, and the lines that continue it.
struct Item {
    head: String,
    more: Vec<String>,
}

impl Item {
    fn line(key: &str, value: String) -> Item {
        Item {
            head: format!("{key}: {value}"),
            more: Vec::new(),
        }
    }

    fn block(key: &str, more: Vec<String>) -> Item {
        Item {
            head: format!("{key}:"),
            more,
        }
    }

    /// A document shown whole, pretty-printed, in AWS's spelling.
    fn document(key: &str, v: &Value) -> Item {
        Item::block(key, display_pretty(v).lines().map(str::to_string).collect())
    }

    /// A scalar or a small structure on one line, a large structure pretty-printed below
    /// its key.
    fn value(key: &str, v: &Value) -> Item {
        let compact = display_compact(v);
        if compact.len() <= 100 || !(v.is_object() || v.is_array()) {
            Item::line(key, compact)
        } else {
            Item::document(key, v)
        }
    }
}

/// Fields shown first, in this order; any other field follows, alphabetically.
const CONTENT_ORDER: &[&str] = &[
    "name",
    "alias",
    "description",
    "path",
    "bus",
    "rule",
    "id",
    "arn",
    "role_arn",
    "retry_policy",
    "dead_letter_arn",
    "state",
    "pipeline_type",
    "execution_mode",
    "versioning",
    "encryption",
    "block_public_access",
    "eventbridge_notifications",
    "rotation",
    "deletion_window_days",
    "message_retention_seconds",
    "sqs_managed_sse",
    "protect",
    "force_destroy",
    "adopt",
    "managed_policies",
    "trust_policy",
    "inline_policies",
    "policy_statements",
    "event_pattern",
    "artifact_stores",
    "variables",
    "stages",
];

/// What a resource holds, for a create (the desired spec) or a delete (the observed
/// one): the settings that matter and every policy document, whole.
fn content(spec: &Spec, tags: &BTreeMap<String, String>) -> Vec<Item> {
    let Value::Object(m) = serde_json::to_value(spec).expect("spec serialises") else {
        return Vec::new();
    };
    // Derived from the address or the name: noise for a reviewer. A target's `arn` is
    // where its events go, so it stays.
    let skipped = |k: &str| {
        k == "kind" || k == "alias_arn" || (k == "arn" && !matches!(spec, Spec::EventTarget(_)))
    };
    let rank = |k: &str| {
        CONTENT_ORDER
            .iter()
            .position(|x| *x == k)
            .unwrap_or(CONTENT_ORDER.len())
    };
    let mut keys: Vec<&String> = m.keys().filter(|k| !skipped(k)).collect();
    keys.sort_by_key(|k| (rank(k), k.as_str()));
    let mut out = Vec::new();
    for k in keys {
        let v = &m[k];
        match (k.as_str(), v) {
            ("inline_policies", Value::Object(p)) => {
                for (name, doc) in p {
                    out.push(Item::document(&format!("inline_policies.{name}"), doc));
                }
            }
            ("trust_policy" | "event_pattern", v) => out.push(Item::document(k, v)),
            ("policy_statements", Value::Array(a)) if !a.is_empty() => {
                out.push(Item::document(k, &display_statements(a)));
            }
            // What the pipeline declares: one `artifactStore` when its actions all run
            // in its region (`PipelineSpec::artifact_store`), one store a region else.
            ("artifact_stores", Value::Object(stores)) if stores.len() == 1 => {
                let store = stores.values().next().expect("one store");
                out.push(Item::value("artifact_store", store));
            }
            ("artifact_stores", Value::Object(stores)) => out.push(Item::block(
                k,
                stores
                    .iter()
                    .map(|(region, store)| format!("{region}: {}", display_compact(store)))
                    .collect(),
            )),
            ("variables", Value::Array(vars)) => out.push(Item::block(
                k,
                vars.iter()
                    .map(|x| {
                        let name = x.get("name").and_then(Value::as_str).unwrap_or_default();
                        let value = x.get("default_value").unwrap_or(&Value::Null);
                        format!("{name}: {}", display_compact(value))
                    })
                    .collect(),
            )),
            ("stages", Value::Array(stages)) => out.extend(stages.iter().map(stage)),
            (_, v) => out.push(Item::value(k, v)),
        }
    }
    let shown: BTreeMap<&String, &String> = tags
        .iter()
        .filter(|(k, _)| !k.starts_with("tether:"))
        .collect();
    if !shown.is_empty() {
        out.push(Item::value(
            "tags",
            &serde_json::to_value(shown).expect("tags serialise"),
        ));
    }
    out
}

/// A pipeline stage: each action's kind, where it runs, as whom, and its configuration.
fn stage(s: &Value) -> Item {
    let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
    let mut more = Vec::new();
    for a in s
        .get("actions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let get = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default();
        let order = match a.get("run_order").and_then(Value::as_u64) {
            Some(n) if n != 1 => format!(", run order {n}"),
            _ => String::new(),
        };
        more.push(format!(
            "action {}: {}/{}/{} v{}{order}",
            Value::String(get("name").into()),
            get("category"),
            get("owner"),
            get("provider"),
            get("version"),
        ));
        for k in ["region", "role_arn", "input_artifacts", "output_artifacts"] {
            if let Some(v) = a.get(k) {
                more.push(format!("  {k}: {}", display_compact(v)));
            }
        }
        if let Some(Value::Object(c)) = a.get("configuration") {
            more.push("  configuration:".into());
            for (k, v) in c {
                more.push(format!("    {k}: {}", display_compact(v)));
            }
        }
        if let Some(Value::Array(c)) = a.get("commands") {
            more.push("  commands:".into());
            for v in c {
                more.push(format!("    {}", display_compact(v)));
            }
        }
        if let Some(Value::Object(vars)) = a.get("environment_variables") {
            more.push("  environment_variables:".into());
            for (k, v) in vars {
                more.push(format!("    {k}: {}", display_compact(v)));
            }
        }
    }
    Item::block(&format!("stage {}", Value::String(name.into())), more)
}

/// The content of a create (`after`) or a delete (`before`); nothing for the rest.
fn shown(c: &ResourceChange) -> Option<Vec<Item>> {
    match c.action {
        Action::Create => c.after.as_ref().map(|r| content(&r.spec, &r.tags)),
        Action::Delete => c.before.as_ref().map(|o| content(&o.spec, &o.tags)),
        _ => None,
    }
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
        out.push_str(&flows_summary(&plan.flows, color));
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
            for item in shown(c).into_iter().flatten() {
                let sign = st.action(c.action, c.action.symbol());
                let _ = writeln!(out, "        {sign} {}", item.head);
                for line in &item.more {
                    let _ = writeln!(out, "            {line}");
                }
            }
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
    out.push_str(&flows_summary(&plan.flows, color));
    out
}

fn outcome_mark(o: &Outcome) -> &'static str {
    match o {
        Outcome::Allowed => "ok",
        Outcome::Denied { .. } => "DENIED",
        Outcome::Unverified { .. } => "unverified",
    }
}

fn hop_lines(out: &mut String, i: usize, h: &Hop, st: &Style) {
    let mark = match &h.outcome {
        Outcome::Allowed => st.paint("32", "ok"),
        Outcome::Denied { .. } => st.paint("31", "DENIED"),
        Outcome::Unverified { .. } => st.paint("33", "unverified"),
    };
    let _ = writeln!(out, "  {:>2}. [{mark}] {}", i + 1, h.step);
    let _ = writeln!(
        out,
        "        {} {} on {}",
        h.principal, h.action, h.resource
    );
    if !h.context.is_empty() {
        let ctx: Vec<String> = h.context.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "        context: {}", ctx.join(", "));
    }
    match &h.outcome {
        Outcome::Denied { why, .. } | Outcome::Unverified { why } => {
            let _ = writeln!(out, "        {why}");
        }
        Outcome::Allowed => {}
    }
}

/// The flows section of a plan: one line per flow, and for a broken one the hop AWS
/// would deny (principal, action, resource, and the policy that lacks the allow or
/// holds the deny).
fn flows_summary(flows: &[Flow], color: bool) -> String {
    let st = Style { on: color };
    let mut out = String::new();
    if flows.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\nFlows (proven against the planned state):");
    for f in flows {
        let head = f.headline();
        let head = match f.verdict {
            Verdict::Proven => st.paint("32", &head),
            Verdict::Broken { .. } => st.paint("31", &head),
            Verdict::Unverified { .. } => st.paint("33", &head),
        };
        let _ = writeln!(out, "  {head}");
        if let Verdict::Broken { hop, .. } = f.verdict {
            let mut lines = String::new();
            hop_lines(&mut lines, hop, &f.hops[hop], &st);
            for l in lines.lines() {
                let _ = writeln!(out, "    {l}");
            }
        }
    }
    out
}

/// `tether flows`: every flow, hop by hop, with the verdict of each hop.
pub fn flows_text(flows: &[Flow], color: bool) -> String {
    let st = Style { on: color };
    let mut out = String::new();
    for f in flows {
        let _ = writeln!(out, "{}", st.paint("1", &f.headline()));
        for (i, h) in f.hops.iter().enumerate() {
            hop_lines(&mut out, i, h, &st);
        }
        out.push('\n');
    }
    let broken = flows.iter().filter(|f| f.broken()).count();
    let proven = flows
        .iter()
        .filter(|f| f.verdict == Verdict::Proven)
        .count();
    let _ = writeln!(
        out,
        "Flows: {proven} proven, {broken} broken, {} unverified.",
        flows.len() - proven - broken
    );
    out
}

/// The flows section of the Markdown plan.
fn flows_markdown(out: &mut String, flows: &[Flow]) {
    if flows.is_empty() {
        return;
    }
    let _ = writeln!(out, "#### Flows\n");
    let _ = writeln!(out, "| flow | verdict |\n|---|---|");
    for f in flows {
        let verdict = match &f.verdict {
            Verdict::Proven => format!("proven ({} hops)", f.hops.len()),
            Verdict::Broken { hop, why } => format!("**broken** at hop {}: {why}", hop + 1),
            Verdict::Unverified { reasons } => format!("unverified: {}", reasons.join("; ")),
        };
        let off = if f.disabled { " (disabled)" } else { "" };
        let _ = writeln!(
            out,
            "| `{}`{off} | {} |",
            f.name,
            verdict.replace('|', "\\|")
        );
    }
    out.push('\n');
    for f in flows {
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code>: {} hops</summary>\n",
            html(&f.name),
            f.hops.len()
        );
        for (i, h) in f.hops.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}. {} {}: `{}` `{}` on `{}`",
                i + 1,
                outcome_mark(&h.outcome),
                h.step,
                h.principal,
                h.action,
                h.resource
            );
        }
        let _ = writeln!(out, "\n</details>\n");
    }
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
        if !plan.flows.is_empty() {
            out.push('\n');
            flows_markdown(&mut out, &plan.flows);
        }
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
        for c in &changes {
            let items = shown(c);
            if items.is_none() && c.changes.is_empty() {
                continue;
            }
            let what = match &items {
                Some(_) => c.reason.clone(),
                None => format!("{} field(s)", c.changes.len()),
            };
            let _ = writeln!(
                out,
                "<details><summary><code>{} {}</code>: {}</summary>\n",
                c.action.symbol(),
                c.address,
                html(&what)
            );
            let _ = writeln!(out, "```diff");
            let sign = c.action.symbol();
            for item in items.into_iter().flatten() {
                let _ = writeln!(out, "{sign} {}", item.head);
                for line in &item.more {
                    let _ = writeln!(out, "{sign}     {line}");
                }
            }
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
    flows_markdown(&mut out, &plan.flows);
    out
}

/// Text for an HTML element of the Markdown (a `<summary>`).
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
