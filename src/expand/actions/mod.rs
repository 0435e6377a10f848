//! Pipeline actions, one module per kind. Each module derives its action's declaration
//! (the `ActionSpec` CodePipeline receives) and its grants (the statements on the roles
//! the action runs as); `Ex::pipeline` in `expand/mod.rs` orchestrates them. Adding a
//! kind is one module here and one line in [`Ex::action`].

mod approval;
mod build;
mod cloudformation;
mod commands;
mod invoke;
pub(super) mod source;

pub use commands::{
    EXECUTION_ROLE_VAR as COMMANDS_EXECUTION_ROLE_VAR, ROLE_VAR as COMMANDS_ROLE_VAR,
};

use super::policy::Statement;
use super::{Ex, StoreUse};
use crate::diag::YamlPath;
use crate::model::{Action, ActionKind, Execution, Key, Pipeline, RoleRef};
use crate::region::Region;
use crate::resource::{ActionSpec, Address};
use std::collections::{BTreeMap, BTreeSet};

/// What deploying a stack takes: the CloudFormation statement of "Manage the
/// CodePipeline service role" (and of the CloudFormation action reference), scoped to
/// the stacks. `cloudformation:ValidateTemplate`, which that statement also lists, has
/// no resource type (Service Authorization Reference, AWS CloudFormation), so a
/// statement scoped to stacks cannot grant it and `*` would grant it on everything; the
/// deploy action does not need it (CDK's action roles scope it to the stack, which
/// grants nothing, and deploy).
const DEPLOY_ACTIONS: [&str; 9] = [
    "cloudformation:CreateChangeSet",
    "cloudformation:CreateStack",
    "cloudformation:DeleteChangeSet",
    "cloudformation:DeleteStack",
    "cloudformation:DescribeChangeSet",
    "cloudformation:DescribeStacks",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:SetStackPolicy",
    "cloudformation:UpdateStack",
];

/// What the actions of one pipeline share while they are derived.
pub(super) struct Pipe<'a> {
    pub pl: &'a Pipeline,
    /// The pipeline role: its address and ARN.
    pub role: Address,
    pub role_arn: String,
    /// The pipeline's roles in other accounts, drafted as actions need them.
    pub roles: BTreeMap<(Purpose, Key), (Address, String)>,
    /// What the pipeline must be created after.
    pub deps: BTreeSet<Address>,
}

/// What a role the pipeline derives in an account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Purpose {
    /// CodePipeline runs the pipeline's actions there as it (`roleArn`).
    Action,
    /// The pipeline's commands assume it to act there.
    Commands,
    /// CodePipeline reads the source there as it (`roleArn`).
    Source,
    /// CloudFormation deploys the stacks there as it.
    Execution,
}

impl Purpose {
    /// The end of the role's name, `<name>-<pipeline>-<suffix>`.
    fn suffix(self) -> &'static str {
        match self {
            Purpose::Action => "action",
            Purpose::Commands => "commands",
            Purpose::Source => "source",
            Purpose::Execution => "cfn-exec",
        }
    }
}

impl Pipe<'_> {
    /// `region` when it is not the pipeline's: the action declaration's `region`.
    pub fn elsewhere(&self, region: &Region) -> Option<String> {
        (*region != self.pl.region).then(|| region.to_string())
    }
}

/// The region an action runs in, when its kind lets it run outside the pipeline's:
/// every such region needs an artifact store in the pipeline's account.
pub(super) fn region(kind: &ActionKind) -> Option<&Region> {
    match kind {
        ActionKind::Build { region, .. }
        | ActionKind::CloudFormation { region, .. }
        | ActionKind::Invoke { region, .. } => Some(region),
        // A Commands action runs in the pipeline's region (see `commands`).
        ActionKind::Source(_) | ActionKind::Approval { .. } | ActionKind::Commands { .. } => None,
    }
}

/// Puts a stage's declarations in the order they run. A change set that a manual
/// approval of its stage gates (listed after it) is created before that approval and
/// executed after it, so that the approver reviews a change set that exists (CDK's
/// prepare → approve → execute order); everything else keeps its run order. Run orders
/// are then renumbered from 1 without gaps, and the declarations listed by run order.
pub(super) fn order_stage(specs: &mut [ActionSpec]) {
    let approvals: Vec<u32> = specs
        .iter()
        .filter(|s| s.category == "Approval")
        .map(|s| s.run_order)
        .collect();
    // Twice the run order, so that a prepared change set fits just before its approval.
    let key = |s: &ActionSpec| -> u64 {
        let prepares =
            s.configuration.get("ActionMode").map(String::as_str) == Some("CHANGE_SET_REPLACE");
        let gate = approvals.iter().filter(|a| **a <= s.run_order).max();
        match gate {
            Some(a) if prepares => 2 * u64::from(*a) - 1,
            _ => 2 * u64::from(s.run_order),
        }
    };
    let keys: Vec<u64> = specs.iter().map(key).collect();
    let mut distinct = keys.clone();
    distinct.sort_unstable();
    distinct.dedup();
    for (s, k) in specs.iter_mut().zip(&keys) {
        let rank = distinct.binary_search(k).expect("a key of the stage");
        s.run_order = u32::try_from(rank + 1).expect("at most 50 actions a stage");
    }
    specs.sort_by_key(|s| s.run_order);
}

impl Ex<'_> {
    /// The declarations of one action of the topology (two for a change set), each
    /// derived by the module of its kind, which also grants what the action needs.
    pub(super) fn action(&mut self, p: &mut Pipe, act: &Action, run_order: u32) -> Vec<ActionSpec> {
        let base = ActionSpec {
            name: act.name.clone(),
            category: String::new(),
            owner: "AWS".into(),
            provider: String::new(),
            version: "1".into(),
            run_order,
            configuration: BTreeMap::new(),
            commands: Vec::new(),
            environment_variables: BTreeMap::new(),
            input_artifacts: act.input.iter().cloned().collect(),
            output_artifacts: act.output.iter().cloned().collect(),
            role_arn: None,
            region: None,
        };
        match &act.kind {
            ActionKind::Source(src) => vec![source::declare(self, p, act, src, base)],
            ActionKind::Build { .. } => vec![build::declare(self, p, act, base)],
            ActionKind::CloudFormation { .. } => cloudformation::declare(self, p, act, base),
            ActionKind::Commands { .. } => vec![commands::declare(self, p, act, base)],
            ActionKind::Approval { .. } => vec![approval::declare(self, p, act, base)],
            ActionKind::Invoke { .. } => vec![invoke::declare(self, p, act, base)],
        }
    }

    /// The pipeline's role for `purpose` in `account`, drafted on first use and made a
    /// dependency of the pipeline. A role for actions, commands or sources trusts
    /// exactly the pipeline role, whose own policy may assume it (a cross-account
    /// `AssumeRole` needs an allow on both sides); an execution role trusts
    /// CloudFormation ([CFNROLE] in docs/topology.md).
    fn pipeline_role(
        &mut self,
        p: &mut Pipe,
        purpose: Purpose,
        account: &Key,
        origin: &YamlPath,
    ) -> (Address, String) {
        if let Some(x) = p.roles.get(&(purpose, account.clone())) {
            return x.clone();
        }
        let name = self.role_name(&[&p.pl.key, purpose.suffix()]);
        let address = self.role(account, &name, origin);
        let arn = self.role_arn(account, &name);
        if purpose == Purpose::Execution {
            self.trust_service(&address, "cloudformation.amazonaws.com", account, None);
        } else {
            self.trust_role(&address, p.role_arn.clone(), Some(&p.role));
            let sid = match purpose {
                Purpose::Commands => "AssumeCommandRoles",
                _ => "AssumeActionRoles",
            };
            self.allow(&p.role, sid, ["sts:AssumeRole"], [arn.clone()]);
        }
        p.deps.insert(address.clone());
        p.roles
            .insert((purpose, account.clone()), (address.clone(), arn.clone()));
        (address, arn)
    }

    /// The role that performs an action in `target`: the pipeline role in its own
    /// account, otherwise the pipeline's action role there, which reads the action's
    /// input from the artifact store of its region.
    fn actor(&mut self, p: &mut Pipe, target: &Key, region: &Region, origin: &YamlPath) -> Address {
        if *target == p.pl.account {
            return p.role.clone();
        }
        let (address, arn) = self.pipeline_role(p, Purpose::Action, target, origin);
        self.use_store(
            &address,
            &arn,
            &p.pl.account,
            region,
            StoreUse::Read,
            origin,
        );
        address
    }

    /// The ARN of the action role an action in `target` declares, when it needs one.
    fn actor_arn(&self, p: &Pipe, target: &Key) -> Option<String> {
        (*target != p.pl.account).then(|| p.roles[&(Purpose::Action, target.clone())].1.clone())
    }

    /// The execution role ARN for a deployment in `target`/`region`, drafting the
    /// derived one when needed. Every execution role, derived or referenced, reads the
    /// artifact store of that region: a template's packaged artifacts (Lambda code,
    /// nested templates) are read with the stack's role.
    fn execution(
        &mut self,
        p: &mut Pipe,
        target: &Key,
        region: &Region,
        execution: &Execution,
        origin: &YamlPath,
    ) -> String {
        let pipeline_account = p.pl.account.clone();
        match execution {
            Execution::Existing(RoleRef::Arn(arn)) => {
                // Never modified: its own policy is its owner's to write.
                self.admit(arn, &pipeline_account, region, StoreUse::Execution, origin);
                arn.clone()
            }
            Execution::Existing(RoleRef::Topology(key)) => {
                let r = &self.t.roles[key];
                let arn = self.role_arn(&r.account, &r.name);
                let address = self.role_address(&r.account, &r.name);
                p.deps.insert(address.clone());
                self.admit(&arn, &pipeline_account, region, StoreUse::Execution, origin)
                    .deps
                    .insert(address);
                // The role's draft is made with the user's entry, after the pipelines.
                let (grants, store_key) =
                    self.store_identity(&pipeline_account, region, StoreUse::Execution);
                let pending = self.user_role_grants.entry(key.clone()).or_default();
                pending.0.extend(grants);
                pending.1.insert(store_key);
                arn
            }
            Execution::Derived { policies } => {
                let (address, arn) = self.pipeline_role(p, Purpose::Execution, target, origin);
                self.use_store(
                    &address,
                    &arn,
                    &pipeline_account,
                    region,
                    StoreUse::Execution,
                    origin,
                );
                let draft = self.roles.get_mut(&address).expect("drafted");
                draft.managed.extend(policies.iter().cloned());
                arn
            }
        }
    }

    /// CloudFormation permissions for `actor` on `stacks` (`DEPLOY_ACTIONS`), and
    /// passing `exec` to CloudFormation only.
    fn deploys(
        &mut self,
        actor: &Address,
        target: &Key,
        region: &Region,
        stacks: &[String],
        exec: &str,
    ) {
        let tid = self.id(target);
        let stack_arns: Vec<String> = stacks
            .iter()
            .map(|s| {
                format!(
                    "arn:{}:cloudformation:{region}:{tid}:stack/{s}/*",
                    region.partition()
                )
            })
            .collect();
        self.allow(actor, "DeployStacks", DEPLOY_ACTIONS, stack_arns);
        self.grant(
            actor,
            "tether",
            Statement::allow(["iam:PassRole"])
                .sid("PassExecutionRoles")
                .on([exec.to_string()])
                .when(
                    "StringEquals",
                    "iam:PassedToService",
                    ["cloudformation.amazonaws.com"],
                ),
        );
    }
}

/// Small topologies expanded, and the parts of the result tests look at.
#[cfg(test)]
#[allow(dead_code)] // each helper serves some of the kinds' tests
pub(crate) mod testing {
    use crate::expand::policy::Statement;
    use crate::expand::Expansion;
    use crate::resource::{ActionSpec, PipelineSpec, Resource, RoleSpec};

    /// Accounts and a source every test topology starts from: `tools` holds the
    /// pipelines, `dev` and `app` are targets.
    pub const HEAD: &str = r#"version: 1
name: t
defaults: { region: us-east-1 }
accounts:
  tools: { id: "111111111111" }
  dev: { id: "333333333333", role: OrganizationAccountAccessRole }
  app: { id: "222222222222", role: OrganizationAccountAccessRole }
"#;

    /// A topology with `extra` top-level entries and a pipeline `main` in `tools` that
    /// reads a CodeCommit repository and has one stage `Deploy` of `actions` (YAML flow
    /// items).
    pub fn with_stage(extra: &str, actions: &str) -> String {
        format!(
            r#"{HEAD}{extra}
pipelines:
  main:
    account: tools
    source: {{ codecommit: {{ repository: app, branch: main }} }}
    stages:
      - name: Deploy
        actions: [{actions}]
"#
        )
    }

    pub fn expand(yaml: &str) -> Expansion {
        match crate::check_bytes(yaml.as_bytes(), "t.yaml") {
            Ok(c) => c.expansion,
            Err(d) => panic!("{d}"),
        }
    }

    fn resource<'a>(e: &'a Expansion, kind: &str, name: &str) -> &'a Resource {
        e.named(kind, name).unwrap_or_else(|| {
            let all: Vec<&str> = e.resources.iter().map(|r| r.address.as_str()).collect();
            panic!("no {kind} {name}; have:\n{}", all.join("\n"))
        })
    }

    pub fn role<'a>(e: &'a Expansion, name: &str) -> &'a RoleSpec {
        resource(e, "iam_role", name).role().expect("a role")
    }

    pub fn pipeline<'a>(e: &'a Expansion, name: &str) -> &'a PipelineSpec {
        resource(e, "pipeline", name)
            .pipeline()
            .expect("a pipeline")
    }

    pub fn action<'a>(p: &'a PipelineSpec, name: &str) -> &'a ActionSpec {
        p.stages
            .iter()
            .flat_map(|s| &s.actions)
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no action {name}"))
    }

    /// The statements of a role's `tether` inline policy, as AWS receives them.
    pub fn identity(e: &Expansion, role_name: &str) -> Vec<serde_json::Value> {
        role(e, role_name)
            .inline_policies
            .get("tether")
            .map(|p| p.statement.iter().map(json).collect())
            .unwrap_or_default()
    }

    /// The statement with `sid` in a role's `tether` policy, if there is one.
    pub fn sid(e: &Expansion, role_name: &str, sid: &str) -> Option<serde_json::Value> {
        identity(e, role_name).into_iter().find(|s| s["Sid"] == sid)
    }

    /// The statement of a bucket or key policy whose Sid ends with `suffix`.
    pub fn managed(
        e: &Expansion,
        kind: &str,
        name: &str,
        suffix: &str,
    ) -> Option<serde_json::Value> {
        let r = resource(e, kind, name);
        let statements = match (r.bucket(), r.key()) {
            (Some(b), _) => &b.policy_statements,
            (_, Some(k)) => &k.policy_statements,
            _ => panic!("{kind} {name} has no policy"),
        };
        statements
            .iter()
            .find(|s| s.sid.as_deref().is_some_and(|x| x.ends_with(suffix)))
            .map(json)
    }

    pub fn json(s: &Statement) -> serde_json::Value {
        serde_json::to_value(s).expect("statements serialise")
    }
}
