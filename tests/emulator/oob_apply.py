"""Creates the resources of `tether expand --format json` the way another tool would.

The integration tests use it to build a world tether did not create itself, then check
that `tether plan` sees no changes: an independent check of tether's reader and of its
comparison by meaning. Usage: oob_apply.py ENDPOINT < expansion.json
"""

import json
import sys

import boto3

AMBIENT = "123456789012"


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


def doc(statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def tags(r, key="Key", value="Value"):
    return [{key: k, value: v} for k, v in sorted(r.get("tags", {}).items())]


def apply(endpoint, r):
    kind = r["kind"]
    if kind == "iam_role":
        iam = client(endpoint, "iam", r)
        iam.create_role(
            RoleName=r["name"],
            Path=r["path"],
            AssumeRolePolicyDocument=json.dumps(r["trust_policy"]),
            Tags=tags(r),
        )
        for name, policy in r.get("inline_policies", {}).items():
            iam.put_role_policy(RoleName=r["name"], PolicyName=name, PolicyDocument=json.dumps(policy))
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
        enc = r["encryption"]
        if enc["algorithm"] == "aws_kms":
            default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": enc["key"]}
        else:
            default = {"SSEAlgorithm": "AES256"}
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
            s3.put_bucket_policy(Bucket=r["name"], Policy=doc(r["policy_statements"]))
        if r["eventbridge_notifications"]:
            s3.put_bucket_notification_configuration(
                Bucket=r["name"], NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
    elif kind == "kms_key":
        kms = client(endpoint, "kms", r)
        key = kms.create_key(
            Description=r["description"],
            Policy=doc(r["policy_statements"]),
            Tags=tags(r, "TagKey", "TagValue"),
        )["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=r["alias"], TargetKeyId=key)
        if r["rotation"]:
            kms.enable_key_rotation(KeyId=key)
    elif kind == "event_bus":
        events = client(endpoint, "events", r)
        events.create_event_bus(Name=r["name"], Tags=tags(r))
        if r["policy_statements"]:
            events.put_permission(EventBusName=r["name"], Policy=doc(r["policy_statements"]))
    elif kind == "event_rule":
        events = client(endpoint, "events", r)
        events.put_rule(
            Name=r["name"],
            EventBusName=r["bus"],
            EventPattern=json.dumps(r["event_pattern"]),
            State=r["state"],
            Description=r["description"],
            Tags=tags(r),
        )
    elif kind == "event_target":
        events = client(endpoint, "events", r)
        events.put_targets(
            Rule=r["rule"],
            EventBusName=r["bus"],
            Targets=[{"Id": r["id"], "Arn": r["arn"], "RoleArn": r["role_arn"]}],
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
                if a.get("role_arn"):
                    action["roleArn"] = a["role_arn"]
                if a.get("region"):
                    action["region"] = a["region"]
                actions.append(action)
            stages.append({"name": st["name"], "actions": actions})
        declaration = {
            "name": r["name"],
            "roleArn": r["role_arn"],
            "artifactStores": stores,
            "stages": stages,
            "pipelineType": r["pipeline_type"],
            "executionMode": r["execution_mode"],
        }
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
    rank = ["iam_role", "kms_key", "s3_bucket", "event_bus", "event_rule", "pipeline", "event_target"]
    for r in sorted(expansion["resources"], key=lambda r: rank.index(r["kind"])):
        if not only or r["address"] in only:
            apply(endpoint, r)


if __name__ == "__main__":
    main()
