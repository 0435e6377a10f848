//! Values known only after apply: the ARN of a KMS key that does not exist yet, which
//! AWS assigns when it creates the key. Pure.
//!
//! The expansion names such a value by a reference to the resource that will hold it
//! ([`reference`]). The diff resolves every reference against what was observed: a key
//! that exists gives its real ARN, so the plan shows it; one that does not yet leaves
//! [`KNOWN_AFTER_APPLY`] in the plan's desired value (as Terraform shows it), with the
//! value's place recorded in the change ([`Unknowns`]: JSON pointer → the address that
//! will produce it). Apply fills each such place from the result of the step that
//! created that resource, and from nothing else.

use crate::resource::{Address, Resource};
use crate::state::Observed;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What the plan shows in place of a value that exists only once an earlier step ran.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// Where a change's desired value holds [`KNOWN_AFTER_APPLY`]: a JSON pointer into the
/// change's `after` → the addresses of the resources whose ARNs go there. Several when
/// the place is a list (a policy's `Resource`) whose unknown values read alike.
pub type Unknowns = BTreeMap<String, BTreeSet<Address>>;

/// Values the state already knows: the ARN of each observed resource, by address.
pub type Known = BTreeMap<Address, String>;

const OPEN: &str = "${";
const CLOSE: &str = ".arn}";

/// How the expansion names the ARN of the resource at `address` before it exists.
pub fn reference(address: &Address) -> String {
    format!("{OPEN}{address}{CLOSE}")
}

/// Whether `s` is a whole-string reference `${<address>.arn}` (never a policy variable
/// such as `${aws:username}`: an address holds its account, region and kind).
pub fn is_reference(s: &str) -> bool {
    s.strip_prefix(OPEN)
        .and_then(|s| s.strip_suffix(CLOSE))
        .is_some_and(|a| a.contains('/'))
}

/// The address a whole-string reference names.
fn referenced(s: &str) -> Option<Address> {
    s.strip_prefix(OPEN)
        .and_then(|s| s.strip_suffix(CLOSE))
        .map(|a| Address(a.to_string()))
}

/// The ARNs observed resources carry (an empty `arn`, or a reference, is not a value).
pub fn known<'a>(observed: impl IntoIterator<Item = &'a Observed>) -> Known {
    observed
        .into_iter()
        .filter_map(|o| {
            let v = serde_json::to_value(&o.spec).ok()?;
            let arn = v.get("arn")?.as_str()?;
            (!arn.is_empty() && referenced(arn).is_none())
                .then(|| (o.address.clone(), arn.to_string()))
        })
        .collect()
}

/// The stand-in ARN test worlds give the resource at `address` once "created": shaped
/// like a KMS key ARN, derived from the address alone so that every reference to it
/// agrees.
pub fn stand_in(address: &Address) -> String {
    use sha2::{Digest, Sha256};
    let mut parts = address.as_str().splitn(3, '/');
    let (account, region) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let hex: String = Sha256::digest(address.as_str().as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("arn:aws:kms:{region}:{account}:key/{hex}")
}

/// `r` as tether leaves it once applied, with [`stand_in`] values for every reference.
pub fn as_applied(r: &Resource) -> Resource {
    let mut v = serde_json::to_value(r).expect("resources serialise");
    walk(&mut v, String::new(), &mut |_, s| {
        referenced(s).map(|a| stand_in(&a))
    });
    serde_json::from_value(v).expect("an applied resource reads back")
}

/// `r` with every reference replaced by its known value, or by [`KNOWN_AFTER_APPLY`]
/// (recorded in the returned [`Unknowns`]) when nothing observed holds it yet.
pub fn resolve(r: &Resource, known: &Known) -> (Resource, Unknowns) {
    let mut v = serde_json::to_value(r).expect("resources serialise");
    let mut references = 0;
    let mut unknown: Vec<(String, Address)> = Vec::new();
    walk(&mut v, String::new(), &mut |pointer, s| {
        let a = referenced(s)?;
        references += 1;
        Some(match known.get(&a) {
            Some(value) => value.clone(),
            None => {
                unknown.push((pointer.to_string(), a));
                KNOWN_AFTER_APPLY.to_string()
            }
        })
    });
    // Most resources name no value known after apply: nothing to read back.
    if references == 0 {
        return (r.clone(), Unknowns::new());
    }
    // By field: a list's unknown values read alike, and a policy list keeps one of each.
    let lists = lists(&v);
    let mut by_field: BTreeMap<String, BTreeSet<Address>> = BTreeMap::new();
    for (pointer, a) in unknown {
        by_field
            .entry(field(&pointer, &lists))
            .or_default()
            .insert(a);
    }
    let resolved: Resource = serde_json::from_value(v).expect("a resolved resource reads back");
    // Where the placeholders are now, each with the values it stands for.
    let mut v = serde_json::to_value(&resolved).expect("resources serialise");
    let mut unknowns = Unknowns::new();
    walk(&mut v, String::new(), &mut |pointer, s| {
        if s == KNOWN_AFTER_APPLY {
            let parent = pointer.rsplit_once('/').map_or("", |(p, _)| p);
            if let Some(a) = by_field.get(pointer).or_else(|| by_field.get(parent)) {
                unknowns.insert(pointer.to_string(), a.clone());
            }
        }
        None
    });
    (resolved, unknowns)
}

/// Fills the places `unknowns` names in `r` with the values `produced` by the steps that
/// ran. A resource's reference to itself (a new key's own ARN) is left as it is: nothing
/// writes it. Returns the addresses whose value is still missing.
pub fn fill(r: &mut Resource, unknowns: &Unknowns, produced: &Known) -> Vec<Address> {
    if unknowns.is_empty() {
        return Vec::new();
    }
    let mut v = serde_json::to_value(&*r).expect("resources serialise");
    let mut missing = Vec::new();
    for (pointer, addresses) in unknowns {
        if addresses.iter().all(|a| *a == r.address) {
            continue;
        }
        let mut values = Vec::new();
        for a in addresses {
            match produced.get(a) {
                Some(value) => values.push(Value::String(value.clone())),
                None => missing.push(a.clone()),
            }
        }
        if values.len() != addresses.len() {
            continue;
        }
        let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        match (v.pointer_mut(parent), last.parse::<usize>()) {
            (Some(Value::Array(items)), Ok(i)) if i < items.len() => {
                items.splice(i..=i, values);
            }
            _ => match v.pointer_mut(pointer) {
                Some(slot) if values.len() == 1 => *slot = values.remove(0),
                Some(slot) => *slot = Value::Array(values),
                None => missing.extend(addresses.iter().cloned()),
            },
        }
    }
    *r = serde_json::from_value(v).expect("a filled resource reads back");
    missing
}

/// The pointers of every list in `v`.
fn lists(v: &Value) -> BTreeSet<String> {
    fn go(v: &Value, pointer: String, out: &mut BTreeSet<String>) {
        match v {
            Value::Array(items) => {
                out.insert(pointer.clone());
                for (i, item) in items.iter().enumerate() {
                    go(item, format!("{pointer}/{i}"), out);
                }
            }
            Value::Object(m) => {
                for (k, item) in m {
                    go(item, format!("{pointer}/{}", escape(k)), out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    go(v, String::new(), &mut out);
    out
}

/// The field a string at `pointer` belongs to: its list, when it is in one.
fn field(pointer: &str, lists: &BTreeSet<String>) -> String {
    match pointer.rsplit_once('/') {
        Some((parent, _)) if lists.contains(parent) => parent.to_string(),
        _ => pointer.to_string(),
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Calls `f` on every string in `v` with its JSON pointer; replaces the string with what
/// `f` returns, if anything.
fn walk(v: &mut Value, pointer: String, f: &mut impl FnMut(&str, &str) -> Option<String>) {
    match v {
        Value::String(s) => {
            if let Some(new) = f(&pointer, s) {
                *s = new;
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, format!("{pointer}/{i}"), f);
            }
        }
        Value::Object(m) => {
            for (k, item) in m.iter_mut() {
                walk(item, format!("{pointer}/{}", escape(k)), f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Observed;

    fn key_and_pipeline() -> (Resource, Resource) {
        let e = crate::fixtures::flow1();
        let key = e
            .resources
            .iter()
            .find(|r| r.key().is_some())
            .expect("flow 1 has an artifact key")
            .clone();
        let pipeline = e
            .resources
            .iter()
            .find(|r| r.pipeline().is_some())
            .expect("flow 1 has a pipeline")
            .clone();
        (key, pipeline)
    }

    #[test]
    fn a_key_that_does_not_exist_is_known_after_apply_and_filled_by_its_create() {
        let (key, pipeline) = key_and_pipeline();
        let (resolved, unknowns) = resolve(&pipeline, &Known::new());
        let stores = &resolved.pipeline().unwrap().artifact_stores;
        assert!(
            stores.values().all(|s| s.key == KNOWN_AFTER_APPLY),
            "{stores:?}"
        );
        assert!(!unknowns.is_empty());
        assert!(
            unknowns
                .values()
                .all(|a| a == &BTreeSet::from([key.address.clone()])),
            "{unknowns:?}"
        );

        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let mut filled = resolved.clone();
        let produced = Known::from([(key.address.clone(), arn.to_string())]);
        assert_eq!(
            fill(&mut filled, &unknowns, &produced),
            Vec::<Address>::new()
        );
        let stores = &filled.pipeline().unwrap().artifact_stores;
        assert!(stores.values().all(|s| s.key == arn), "{stores:?}");

        let mut unfilled = resolved;
        assert_eq!(
            fill(&mut unfilled, &unknowns, &Known::new()),
            vec![key.address.clone(); unknowns.len()]
        );
    }

    #[test]
    fn several_unknown_values_in_one_policy_list_each_get_their_own() {
        // A pipeline acting in three regions names three keys in one statement: the
        // list keeps one `(known after apply)`, which stands for all three.
        let text = include_str!("../../docs/examples/flow4-multi-region.yaml");
        let e = crate::check_bytes(text.as_bytes(), "flow4.yaml")
            .unwrap()
            .expansion;
        let role = e
            .resources
            .iter()
            .find(|r| {
                r.address
                    .as_str()
                    .ends_with("iam_role.flow4-service-pipeline")
            })
            .unwrap();
        let keys: BTreeSet<Address> = e
            .resources
            .iter()
            .filter(|r| r.key().is_some())
            .map(|r| r.address.clone())
            .collect();
        assert_eq!(keys.len(), 3);
        let (mut resolved, unknowns) = resolve(role, &Known::new());
        assert!(unknowns.values().any(|a| *a == keys), "{unknowns:?}");
        let produced: Known = keys.iter().map(|a| (a.clone(), stand_in(a))).collect();
        assert_eq!(
            fill(&mut resolved, &unknowns, &produced),
            Vec::<Address>::new()
        );
        let text = serde_json::to_string(&resolved).unwrap();
        for a in &keys {
            assert!(text.contains(&stand_in(a)), "{a}: {text}");
        }
        assert!(!text.contains(KNOWN_AFTER_APPLY), "{text}");
        assert_eq!(resolved, as_applied(role));
    }

    #[test]
    fn a_key_that_exists_gives_its_real_arn() {
        let (key, pipeline) = key_and_pipeline();
        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let mut observed = Observed::as_created(&key);
        if let crate::resource::Spec::KmsKey(k) = &mut observed.spec {
            k.arn = arn.to_string();
        }
        let (resolved, unknowns) = resolve(&pipeline, &known([&observed]));
        assert!(unknowns.is_empty(), "{unknowns:?}");
        let stores = &resolved.pipeline().unwrap().artifact_stores;
        assert!(stores.values().all(|s| s.key == arn), "{stores:?}");
        // A test world's created key carries its stand-in, and so does what names it.
        let created = Observed::as_created(&key);
        let values = known([&created]);
        assert_eq!(values.get(&key.address), Some(&stand_in(&key.address)));
        let (resolved, unknowns) = resolve(&pipeline, &values);
        assert!(unknowns.is_empty());
        assert_eq!(Observed::as_created(&pipeline).spec, resolved.spec);
    }
}
