"""Creates the resources of `tether expand --format json` the way another tool would.

The integration tests use it to build a world tether did not create itself, then check
that `tether plan` sees no changes: an independent check of tether's reader and of its
comparison by meaning. The expansion is only the list of what to create: every policy
document (and event pattern) is rewritten by `Reshaper` in the shapes people and other
tools write, never as tether's own text. Usage: oob_apply.py ENDPOINT [ADDRESS…] < expansion.json

On stderr it prints `shapes used: …` and `shapes known: …`, so that a test can check
that the examples exercise every shape.
"""

import hashlib
import json
import random
import re
import sys

import boto3

AMBIENT = "123456789012"

ROOT = re.compile(r"^arn:aws:iam::(\d{12}):root$")

# Every shape the reshaper writes, and why it means the same as tether's text (IAM JSON
# policy reference, and each service's own documentation of its policies).
SHAPES = {
    "statement-order": "statements in another order: their order does not matter",
    "single-statement": "`Statement` as one object, not a one-element list (role documents)",
    "sid-omitted": "a role document's statement without its Sid: a Sid only labels",
    "sid-other": "a role document's statement with another Sid (shared policies keep "
    "tether's: their `tether_<topology>_` prefix marks what tether manages)",
    "version-last": "`Version` after `Statement`: JSON objects are unordered",
    "statement-key-order": "a statement's keys in another order (Resource before Action, …)",
    "action-list": "one action as a one-element list",
    "resource-list": "one resource as a one-element list",
    "aws-principal-list": '`{"AWS": ["arn…"]}` for `{"AWS": "arn…"}`',
    "service-principal-list": '`{"Service": ["x.amazonaws.com"]}` (not for CodePipeline\'s '
    "own principal, which CodePipeline wants as a string)",
    "condition-value-list": "one condition value as a one-element list",
    "list-order": "lists of actions, resources, principals in another order",
    "account-id-principal": "`ACCOUNT` for `arn:aws:iam::ACCOUNT:root`: an account id "
    "names the account's root",
    "aws-star-principal": '`{"AWS": "*"}` for `"*"`: the two are equivalent',
    "action-case": "action names in lower case: prefix and action name are case-insensitive",
    "condition-key-case": "condition key names in lower case: they are case-insensitive",
    "condition-bool": "`Bool` condition values as JSON booleans",
    "compact-json": "no whitespace at all",
    "indented-json": "indented with two or four spaces or a tab",
    "pattern-key-order": "an event pattern's keys in another order (all levels)",
    "template-key-order": "a JSON input template's keys in another order, and its own "
    "spacing: EventBridge keeps the text, whose meaning is the JSON it fills",
}

# moto's CreatePipeline looks for this service principal as a string in a list of
# statements of the pipeline role's trust policy (and tether writes it as a string
# because CodePipeline wants that), so documents naming it keep those two shapes.
SCALAR_SERVICES = {"codepipeline.amazonaws.com"}


def names_scalar_service(doc):
    return any(
        isinstance(s.get("Principal"), dict)
        and SCALAR_SERVICES.intersection(one_or_many(s["Principal"].get("Service", [])))
        for s in doc["Statement"]
    )


def one_or_many(v):
    return [v] if isinstance(v, str) else v


class Reshaper:
    """Writes policy documents and event patterns the way a person or another tool would.

    Deterministic: every choice comes from a generator seeded with a hash of what is
    written (resource address and field), so the shapes vary between documents and
    examples but a run is reproducible. Every transformation keeps the meaning exactly.
    """

    def __init__(self):
        self.used = set()
        self.uses = 0

    @staticmethod
    def rng(seed):
        return random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))

    def use(self, shape):
        assert shape in SHAPES, shape
        self.used.add(shape)
        self.uses += 1

    def document(self, doc, seed, role=True):
        """A whole policy document: a role's own (`role`), or a shared one whose Sids mark
        tether's statements and which is always a list of statements (IAM documents a
        lone statement object; moto's EventBridge refuses it). Never tether's text: at
        least one shape besides spacing is always applied."""
        r = self.rng(seed)
        start = self.uses
        statements = [self.statement(s, r) for s in doc["Statement"]]
        if role:
            statements = [self.sid(s, r, i) for i, s in enumerate(statements)]
        if len(statements) > 1 and r.random() < 0.7:
            reordered = statements[:]
            while reordered == statements:
                r.shuffle(reordered)
            statements = reordered
            self.use("statement-order")
        body = statements
        if role and not names_scalar_service(doc) and len(statements) == 1 and r.random() < 0.5:
            body = statements[0]
            self.use("single-statement")
        if r.random() < 0.5 or self.uses == start:
            out = {"Statement": body, "Version": doc["Version"]}
            self.use("version-last")
        else:
            out = {"Version": doc["Version"], "Statement": body}
        return self.dump(out, r)

    def statements(self, statements, seed):
        """A shared policy (bucket, key, bus) made of these statements."""
        return self.document({"Version": "2012-10-17", "Statement": statements}, seed, role=False)

    def pattern(self, pattern, seed):
        """An event pattern: its lists must stay lists, only key order and spacing vary."""
        r = self.rng(seed)
        start = self.uses

        def shuffled(v):
            if isinstance(v, dict):
                return self.key_order({k: shuffled(x) for k, x in v.items()}, r, "pattern-key-order")
            if isinstance(v, list):
                return [shuffled(x) for x in v]
            return v

        out = shuffled(pattern)
        if self.uses == start:
            out = self.key_order(out, r, "pattern-key-order", force=True)
        return self.dump(out, r)

    def template(self, template, seed):
        """An input transformer's template: a JSON one (tether holds it as a value) with
        its keys reordered and respaced; a text one as it is, its text being its meaning."""
        if isinstance(template, str):
            return template
        r = self.rng(seed)

        def shuffled(v):
            if isinstance(v, dict):
                d = {k: shuffled(x) for k, x in v.items()}
                return self.key_order(d, r, "template-key-order", force=True)
            if isinstance(v, list):
                return [shuffled(x) for x in v]
            return v

        return self.dump(shuffled(template), r)

    def sid(self, s, r, i):
        if "Sid" not in s:
            return s
        choice = r.random()
        if choice < 0.4:
            self.use("sid-omitted")
            return {k: v for k, v in s.items() if k != "Sid"}
        if choice < 0.6:
            self.use("sid-other")
            return {k: (f"Stmt{i + 1}" if k == "Sid" else v) for k, v in s.items()}
        return s

    def statement(self, s, r):
        s = dict(s)
        lower = r.random() < 0.3
        for key in ("Action", "NotAction"):
            if key in s:
                s[key] = self.values(s[key], r, "action-list", lambda a: self.action(a, lower))
        for key in ("Resource", "NotResource"):
            if key in s:
                s[key] = self.values(s[key], r, "resource-list")
        for key in ("Principal", "NotPrincipal"):
            if key in s:
                s[key] = self.principal(s[key], r)
        if "Condition" in s:
            s["Condition"] = self.condition(s["Condition"], r)
        return self.key_order(s, r, "statement-key-order")

    def action(self, a, lower):
        if lower and a.lower() != a:
            self.use("action-case")
            return a.lower()
        return a

    def values(self, v, r, list_shape, f=lambda x: x):
        """A scalar becomes a one-element list, or a list is reordered (or neither)."""
        if isinstance(v, str):
            v = f(v)
            if r.random() < 0.5:
                self.use(list_shape)
                return [v]
            return v
        v = [f(x) for x in v]
        if len(v) > 1 and r.random() < 0.6:
            reordered = v[:]
            while reordered == v:
                r.shuffle(reordered)
            self.use("list-order")
            return reordered
        return v

    def principal(self, p, r):
        if p == "*":
            if r.random() < 0.5:
                self.use("aws-star-principal")
                return {"AWS": "*"}
            return p
        out = {}
        for kind, v in p.items():
            if kind == "AWS":
                out[kind] = self.values(v, r, "aws-principal-list", lambda a: self.account(a, r))
            elif kind == "Service" and not SCALAR_SERVICES.intersection(one_or_many(v)):
                out[kind] = self.values(v, r, "service-principal-list")
            else:
                out[kind] = v
        return out

    def account(self, arn, r):
        m = ROOT.match(arn)
        if m and r.random() < 0.6:
            self.use("account-id-principal")
            return m.group(1)
        return arn

    def condition(self, c, r):
        out = {}
        for op, keys in c.items():
            inner = {}
            for key, v in keys.items():
                if r.random() < 0.3 and key.lower() != key:
                    self.use("condition-key-case")
                    key = key.lower()
                if op == "Bool" and v in ("true", "false") and r.random() < 0.5:
                    self.use("condition-bool")
                    v = v == "true"
                    if r.random() < 0.5:
                        self.use("condition-value-list")
                        v = [v]
                else:
                    v = self.values(v, r, "condition-value-list")
                inner[key] = v
            out[op] = self.key_order(inner, r, "statement-key-order")
        return self.key_order(out, r, "statement-key-order")

    def key_order(self, d, r, shape, force=False):
        keys = list(d)
        if len(keys) > 1 and (force or r.random() < 0.7):
            reordered = keys[:]
            while reordered == keys:
                r.shuffle(reordered)
            self.use(shape)
            return {k: d[k] for k in reordered}
        return d

    def dump(self, v, r):
        style = r.randrange(3)
        if style == 0:
            return json.dumps(v)
        if style == 1:
            self.use("compact-json")
            return json.dumps(v, separators=(",", ":"))
        self.use("indented-json")
        return json.dumps(v, indent=r.choice([2, 4, "\t"]))


RESHAPE = Reshaper()


def session(endpoint, account_id, cache={}):
    if account_id in cache:
        return cache[account_id]
    base = dict(endpoint_url=endpoint, region_name="us-east-1")
    creds = dict(aws_access_key_id="testing", aws_secret_access_key="testing")
    if account_id != AMBIENT:
        sts = boto3.client("sts", **base, **creds)
        c = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
            RoleSessionName="other-tool",
        )["Credentials"]
        creds = dict(
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )
    cache[account_id] = creds
    return creds


def client(endpoint, service, r):
    region = r["region"] if r["region"] != "global" else "us-east-1"
    return boto3.client(
        service, endpoint_url=endpoint, region_name=region, **session(endpoint, r["account_id"])
    )


def tags(r, key="Key", value="Value"):
    return [{key: k, value: v} for k, v in sorted(r.get("tags", {}).items())]


REFERENCE = re.compile(r"^\$\{(.+)\.arn\}$")


def resolved(v, arns):
    """`v` with each reference to a resource's ARN (`${ADDRESS.arn}`, a key's ARN that AWS
    assigns) replaced by the ARN that resource got when it was created here."""
    if isinstance(v, str):
        m = REFERENCE.match(v)
        return arns[m.group(1)] if m else v
    if isinstance(v, list):
        return [resolved(x, arns) for x in v]
    if isinstance(v, dict):
        return {k: resolved(x, arns) for k, x in v.items()}
    return v


def target(r):
    t = {"Id": r["id"], "Arn": r["arn"], "RoleArn": r["role_arn"]}
    if r.get("retry_policy"):
        t["RetryPolicy"] = {
            "MaximumRetryAttempts": r["retry_policy"]["maximum_retry_attempts"],
            "MaximumEventAgeInSeconds": r["retry_policy"]["maximum_event_age_seconds"],
        }
    if r.get("dead_letter_arn"):
        t["DeadLetterConfig"] = {"Arn": r["dead_letter_arn"]}
    x = r.get("input_transformer")
    if x is not None:
        t["InputTransformer"] = {
            "InputPathsMap": x["input_paths"],
            "InputTemplate": RESHAPE.template(x["input_template"], f"{r['address']}#input_template"),
        }
    return t


def apply(endpoint, r, arns):
    """Creates `r`; returns its ARN when AWS assigned it (a key's)."""
    kind = r["kind"]
    if kind != "kms_key":
        r = resolved(r, arns)
    if kind == "iam_role":
        iam = client(endpoint, "iam", r)
        iam.create_role(
            RoleName=r["name"],
            Path=r["path"],
            AssumeRolePolicyDocument=RESHAPE.document(r["trust_policy"], f"{r['address']}#trust_policy"),
            Tags=tags(r),
        )
        for name, policy in r.get("inline_policies", {}).items():
            iam.put_role_policy(
                RoleName=r["name"],
                PolicyName=name,
                PolicyDocument=RESHAPE.document(policy, f"{r['address']}#inline_policies.{name}"),
            )
        for arn in r.get("managed_policies", []):
            iam.attach_role_policy(RoleName=r["name"], PolicyArn=arn)
    elif kind == "s3_bucket":
        s3 = client(endpoint, "s3", r)
        args = {"Bucket": r["name"]}
        if r["region"] != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": r["region"]}
        s3.create_bucket(**args)
        s3.put_bucket_tagging(Bucket=r["name"], Tagging={"TagSet": tags(r)})
        if r["versioning"]:
            s3.put_bucket_versioning(Bucket=r["name"], VersioningConfiguration={"Status": "Enabled"})
        enc = r.get("encryption")  # absent: an adopted bucket keeps its own
        if enc and enc["algorithm"] == "aws_kms":
            default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": enc["key"]}
        else:
            default = {"SSEAlgorithm": "AES256"}
        if enc:
            s3.put_bucket_encryption(
                Bucket=r["name"],
                ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]},
            )
        if r["block_public_access"]:
            s3.put_public_access_block(
                Bucket=r["name"],
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
        if r["policy_statements"]:
            s3.put_bucket_policy(
                Bucket=r["name"],
                Policy=RESHAPE.statements(r["policy_statements"], f"{r['address']}#policy"),
            )
        if r["eventbridge_notifications"]:
            s3.put_bucket_notification_configuration(
                Bucket=r["name"], NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
    elif kind == "kms_key":
        kms = client(endpoint, "kms", r)
        meta = kms.create_key(
            Description=r["description"],
            Policy=RESHAPE.statements(r["policy_statements"], f"{r['address']}#policy"),
            Tags=tags(r, "TagKey", "TagValue"),
        )["KeyMetadata"]
        key = meta["KeyId"]
        kms.create_alias(AliasName=r["alias"], TargetKeyId=key)
        if r["rotation"]:
            kms.enable_key_rotation(KeyId=key)
        return meta["Arn"]
    elif kind == "event_bus":
        events = client(endpoint, "events", r)
        events.create_event_bus(Name=r["name"], Tags=tags(r))
        if r["policy_statements"]:
            policy = RESHAPE.statements(r["policy_statements"], f"{r['address']}#policy")
            events.put_permission(EventBusName=r["name"], Policy=policy)
    elif kind == "event_rule":
        events = client(endpoint, "events", r)
        events.put_rule(
            Name=r["name"],
            EventBusName=r["bus"],
            EventPattern=RESHAPE.pattern(r["event_pattern"], f"{r['address']}#event_pattern"),
            State=r["state"],
            Description=r["description"],
            Tags=tags(r),
        )
    elif kind == "event_target":
        events = client(endpoint, "events", r)
        events.put_targets(Rule=r["rule"], EventBusName=r["bus"], Targets=[target(r)])
    elif kind == "sqs_queue":
        sqs = client(endpoint, "sqs", r)
        sqs.create_queue(
            QueueName=r["name"],
            Attributes={
                "MessageRetentionPeriod": str(r["message_retention_seconds"]),
                "SqsManagedSseEnabled": "true" if r["sqs_managed_sse"] else "false",
                "Policy": RESHAPE.statements(r["policy_statements"], f"{r['address']}#policy"),
            },
            tags=dict(sorted(r.get("tags", {}).items())),
        )
    elif kind == "pipeline":
        cp = client(endpoint, "codepipeline", r)
        stores = {
            region: {
                "type": "S3",
                "location": s["bucket"],
                "encryptionKey": {"id": s["key"], "type": "KMS"},
            }
            for region, s in r["artifact_stores"].items()
        }
        stages = []
        for st in r["stages"]:
            actions = []
            for a in st["actions"]:
                action = {
                    "name": a["name"],
                    "actionTypeId": {
                        "category": a["category"],
                        "owner": a["owner"],
                        "provider": a["provider"],
                        "version": a["version"],
                    },
                    "runOrder": a["run_order"],
                    "configuration": a.get("configuration", {}),
                    "inputArtifacts": [{"name": n} for n in a.get("input_artifacts", [])],
                    "outputArtifacts": [{"name": n} for n in a.get("output_artifacts", [])],
                }
                if a.get("commands"):
                    action["commands"] = a["commands"]
                if a.get("environment_variables"):
                    action["environmentVariables"] = [
                        {"name": k, "value": v, "type": "PLAINTEXT"}
                        for k, v in a["environment_variables"].items()
                    ]
                if a.get("role_arn"):
                    action["roleArn"] = a["role_arn"]
                if a.get("region"):
                    action["region"] = a["region"]
                actions.append(action)
            stages.append({"name": st["name"], "actions": actions})
        declaration = {
            "name": r["name"],
            "roleArn": r["role_arn"],
            "stages": stages,
            "pipelineType": r["pipeline_type"],
            "executionMode": r["execution_mode"],
        }
        # One store is declared as `artifactStore` (docs/topology.md: the form a
        # single-region pipeline takes), several as `artifactStores`.
        if len(stores) == 1:
            declaration["artifactStore"] = next(iter(stores.values()))
        else:
            declaration["artifactStores"] = stores
        if r.get("variables"):
            declaration["variables"] = [
                {"name": v["name"], "defaultValue": v["default_value"]} for v in r["variables"]
            ]
        cp.create_pipeline(pipeline=declaration, tags=tags(r, "key", "value"))
    else:
        raise SystemExit(f"unknown kind {kind}")


def main():
    endpoint = sys.argv[1]
    expansion = json.load(sys.stdin)
    only = set(sys.argv[2:])
    # Keys first: the roles, buckets and pipelines that use them name them by ARN.
    rank = ["kms_key", "iam_role", "s3_bucket", "event_bus", "event_rule", "pipeline", "sqs_queue", "event_target"]
    arns = {}
    for r in sorted(expansion["resources"], key=lambda r: rank.index(r["kind"])):
        if not only or r["address"] in only:
            arn = apply(endpoint, r, arns)
            if arn:
                arns[r["address"]] = arn
    print("shapes used:", " ".join(sorted(RESHAPE.used)), file=sys.stderr)
    print("shapes known:", " ".join(sorted(SHAPES)), file=sys.stderr)


if __name__ == "__main__":
    main()
