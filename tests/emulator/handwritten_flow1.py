"""Builds the world of `docs/examples/flow1-upload-trigger.yaml` by hand, as a platform
engineer would in another tool: literal boto3 calls and literal policy JSON, written
without looking at `tether expand` (the values were read off the reviewed snapshot
`tests/data/expand/flow1-upload-trigger.yaml` and typed out in other shapes).

The tools account is the emulator's own (123456789012: the tests give the example's
ambient account that id), the app account is 222222222222, reached by AssumeRole.

Kept from tether's conventions, because tether needs them to recognise what it manages:
the ownership tags (`tether:topology`, `tether:address`), the IAM path `/tether/flow1/`,
and the `tether_flow1_` Sid prefix on the statements of the shared bucket, key and bus
policies. Everything else is written the way people write it: no Sids in a role's own
documents, statements and keys in another order, lists where tether writes a string and
strings where a list has one element, account ids instead of `:root` ARNs, condition
values as lists, the console's indentation or none.

Usage: handwritten_flow1.py ENDPOINT [CHANGE]. CHANGE, for the negative controls, makes
one meaningful difference:
  trust-account  the source role trusts the pipeline role of another account (333333333333)
  extra-action   the key policy lets the pipeline roles also `kms:ReEncryptFrom`
  other-action   the start target passes the object version to another source action
"""

import sys

import boto3

from oob_apply import session

ENDPOINT = sys.argv[1]
CHANGE = sys.argv[2] if len(sys.argv) > 2 else None
CHANGES = {"trust-account", "extra-action", "other-action"}
if CHANGE is not None and CHANGE not in CHANGES:
    raise SystemExit(f"unknown change {CHANGE!r}; one of {sorted(CHANGES)}")

TOOLS = "123456789012"
APP = "222222222222"


def c(service, account):
    return boto3.client(
        service, endpoint_url=ENDPOINT, region_name="us-east-1", **session(ENDPOINT, account)
    )


def changed(text, change, old, new):
    """`text`, with `old` replaced by `new` when the negative control `change` is on."""
    if CHANGE != change:
        return text
    assert old in text, (change, old)
    return text.replace(old, new)


def owned(address, key="Key", value="Value"):
    return [
        {key: "tether:topology", value: "flow1"},
        {key: "tether:address", value: address},
    ]


# ----- KMS, tools account (first: the roles, bucket and pipeline name the key by ARN) --

kms = c("kms", TOOLS)

key = kms.create_key(
    Description="tether flow1: pipeline artifacts in us-east-1",
    Policy=changed(
        """{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "tether_flow1_ArtifactsDecrypt",
            "Effect": "Allow",
            "Principal": {"AWS": ["222222222222", "arn:aws:iam::123456789012:root"]},
            "Action": ["kms:DescribeKey", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": [
                "arn:aws:iam::222222222222:role/tether/flow1/flow1-release-source",
                "arn:aws:iam::123456789012:role/tether/flow1/flow1-release-pipeline"
            ]}}
        },
        {
            "Sid": "tether_flow1_ArtifactsEncrypt",
            "Effect": "Allow",
            "Principal": {
                "AWS": ["arn:aws:iam::123456789012:root", "arn:aws:iam::222222222222:root"]
            },
            "Action": ["kms:GenerateDataKey", "kms:Encrypt"],
            "Resource": ["*"],
            "Condition": {"ArnEquals": {"aws:PrincipalArn": [
                "arn:aws:iam::123456789012:role/tether/flow1/flow1-release-pipeline",
                "arn:aws:iam::222222222222:role/tether/flow1/flow1-release-source"
            ]}}
        },
        {
            "Sid": "tether_flow1_KeyAdministration",
            "Effect": "Allow",
            "Principal": {"AWS": "123456789012"},
            "Action": "kms:*",
            "Resource": "*"
        }
    ]
}""",
        "extra-action",
        '"Action": ["kms:DescribeKey", "kms:Decrypt"]',
        '"Action": ["kms:DescribeKey", "kms:Decrypt", "kms:ReEncryptFrom"]',
    ),
    Tags=owned("tools/us-east-1/kms_key.flow1-artifacts", "TagKey", "TagValue"),
)["KeyMetadata"]
key_id, KEY_ARN = key["KeyId"], key["Arn"]
kms.create_alias(AliasName="alias/flow1-artifacts", TargetKeyId=key_id)
kms.enable_key_rotation(KeyId=key_id)

# ----- IAM, app account ---------------------------------------------------------------

iam_app = c("iam", APP)

iam_app.create_role(
    RoleName="flow1-on-upload-forward",
    Path="/tether/flow1/",
    AssumeRolePolicyDocument="""{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": { "Service": ["events.amazonaws.com"] },
      "Action": ["sts:AssumeRole"],
      "Condition": {
        "StringEquals": { "aws:SourceAccount": ["222222222222"] },
        "ArnEquals": {
          "aws:SourceArn": "arn:aws:events:us-east-1:222222222222:rule/flow1-on-upload-forward"
        }
      }
    }
  ]
}""",
    Tags=owned("app/global/iam_role.flow1-on-upload-forward"),
)
iam_app.put_role_policy(
    RoleName="flow1-on-upload-forward",
    PolicyName="tether",
    PolicyDocument='{"Statement":{"Resource":"arn:aws:events:us-east-1:123456789012:event-bus/'
    'flow1-triggers","Action":"events:PutEvents","Effect":"Allow"},"Version":"2012-10-17"}',
)

iam_app.create_role(
    RoleName="flow1-release-source",
    Path="/tether/flow1/",
    AssumeRolePolicyDocument=changed(
        """{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
  "Principal": {"AWS": ["arn:aws:iam::123456789012:role/tether/flow1/flow1-release-pipeline"]}}]}""",
        "trust-account",
        "arn:aws:iam::123456789012:",
        "arn:aws:iam::333333333333:",
    ),
    Tags=owned("app/global/iam_role.flow1-release-source"),
)
iam_app.put_role_policy(
    RoleName="flow1-release-source",
    PolicyName="tether",
    PolicyDocument="""{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging",
                       "s3:GetObjectVersionTagging"],
            "Resource": ["arn:aws:s3:::flow1-app-uploads/releases/app.zip"]
        },
        {
            "Effect": "Allow",
            "Action": ["s3:GetBucketVersioning", "s3:GetBucketAcl", "s3:GetBucketLocation"],
            "Resource": "arn:aws:s3:::flow1-app-uploads"
        },
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObjectVersion", "s3:GetObject"],
            "Resource": "arn:aws:s3:::flow1-artifacts-123456789012-us-east-1/*"
        },
        {
            "Effect": "Allow",
            "Action": ["s3:GetBucketVersioning", "s3:GetBucketLocation", "s3:GetBucketAcl"],
            "Resource": "arn:aws:s3:::flow1-artifacts-123456789012-us-east-1"
        },
        {
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": "KEY_ARN"
        }
    ]
}""".replace("KEY_ARN", KEY_ARN),
)

# ----- IAM, tools account -------------------------------------------------------------

iam = c("iam", TOOLS)

iam.create_role(
    RoleName="flow1-release-pipeline",
    Path="/tether/flow1/",
    # CreatePipeline looks for this service principal as a string.
    AssumeRolePolicyDocument="""{
  "Statement": [
    {
      "Action": "sts:AssumeRole",
      "Principal": {"Service": "codepipeline.amazonaws.com"},
      "Effect": "Allow"
    }
  ],
  "Version": "2012-10-17"
}""",
    Tags=owned("tools/global/iam_role.flow1-release-pipeline"),
)
iam.put_role_policy(
    RoleName="flow1-release-pipeline",
    PolicyName="tether",
    PolicyDocument="""{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
      "Resource": "arn:aws:codebuild:us-east-1:123456789012:project/app-build"
    },
    {
      "Effect": "Allow",
      "Action": "sts:AssumeRole",
      "Resource": ["arn:aws:iam::222222222222:role/tether/flow1/flow1-release-source"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl"],
      "Resource": ["arn:aws:s3:::flow1-artifacts-123456789012-us-east-1/*"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:GetBucketVersioning"],
      "Resource": ["arn:aws:s3:::flow1-artifacts-123456789012-us-east-1"]
    },
    {
      "Effect": "Allow",
      "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
      "Resource": ["KEY_ARN"]
    }
  ]
}""".replace("KEY_ARN", KEY_ARN),
)

iam.create_role(
    RoleName="flow1-on-upload-start",
    Path="/tether/flow1/",
    AssumeRolePolicyDocument="""{"Version":"2012-10-17","Statement":{"Effect":"Allow",
"Principal":{"Service":"events.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{
"ArnEquals":{"aws:SourceArn":["arn:aws:events:us-east-1:123456789012:rule/flow1-triggers/flow1-on-upload-start"]},
"StringEquals":{"aws:SourceAccount":"123456789012"}}}}""",
    Tags=owned("tools/global/iam_role.flow1-on-upload-start"),
)
iam.put_role_policy(
    RoleName="flow1-on-upload-start",
    PolicyName="tether",
    PolicyDocument="""{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Action": ["codepipeline:StartPipelineExecution"],
    "Resource": ["arn:aws:codepipeline:us-east-1:123456789012:flow1-release"]
  }]
}""",
)

# ----- S3 -----------------------------------------------------------------------------

s3 = c("s3", TOOLS)
artifacts = "flow1-artifacts-123456789012-us-east-1"
s3.create_bucket(Bucket=artifacts)
s3.put_bucket_tagging(
    Bucket=artifacts,
    Tagging={"TagSet": owned(f"tools/us-east-1/s3_bucket.{artifacts}")},
)
s3.put_bucket_versioning(Bucket=artifacts, VersioningConfiguration={"Status": "Enabled"})
s3.put_bucket_encryption(
    Bucket=artifacts,
    ServerSideEncryptionConfiguration={
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": KEY_ARN,
                }
            }
        ]
    },
)
s3.put_public_access_block(
    Bucket=artifacts,
    PublicAccessBlockConfiguration={
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    },
)
s3.put_bucket_policy(
    Bucket=artifacts,
    Policy="""{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "tether_flow1_ArtifactsWrite",
      "Effect": "Allow",
      "Principal": {"AWS": [
        "arn:aws:iam::222222222222:role/tether/flow1/flow1-release-source",
        "arn:aws:iam::123456789012:role/tether/flow1/flow1-release-pipeline"
      ]},
      "Action": ["s3:PutObject"],
      "Resource": ["arn:aws:s3:::flow1-artifacts-123456789012-us-east-1/*"]
    },
    {
      "Sid": "tether_flow1_ArtifactsWriteAcl",
      "Effect": "Allow",
      "Principal": {"AWS": [
        "arn:aws:iam::123456789012:role/tether/flow1/flow1-release-pipeline",
        "arn:aws:iam::222222222222:role/tether/flow1/flow1-release-source"
      ]},
      "Action": "s3:PutObjectAcl",
      "Resource": "arn:aws:s3:::flow1-artifacts-123456789012-us-east-1/*"
    },
    {
      "Sid": "tether_flow1_ArtifactsRead",
      "Effect": "Allow",
      "Principal": {"AWS": [
        "arn:aws:iam::123456789012:role/tether/flow1/flow1-release-pipeline",
        "arn:aws:iam::222222222222:role/tether/flow1/flow1-release-source"
      ]},
      "Action": ["s3:GetObjectVersion", "s3:GetObject"],
      "Resource": "arn:aws:s3:::flow1-artifacts-123456789012-us-east-1/*"
    },
    {
      "Sid": "tether_flow1_ArtifactsBucket",
      "Effect": "Allow",
      "Principal": {"AWS": [
        "arn:aws:iam::123456789012:role/tether/flow1/flow1-release-pipeline",
        "arn:aws:iam::222222222222:role/tether/flow1/flow1-release-source"
      ]},
      "Action": ["s3:GetBucketAcl", "s3:GetBucketVersioning", "s3:GetBucketLocation"],
      "Resource": "arn:aws:s3:::flow1-artifacts-123456789012-us-east-1"
    },
    {
      "Sid": "tether_flow1_DenyInsecureTransport",
      "Effect": "Deny",
      "Principal": {"AWS": "*"},
      "Action": "s3:*",
      "Resource": [
        "arn:aws:s3:::flow1-artifacts-123456789012-us-east-1/*",
        "arn:aws:s3:::flow1-artifacts-123456789012-us-east-1"
      ],
      "Condition": {"Bool": {"aws:SecureTransport": false}}
    }
  ]
}""",
)

s3_app = c("s3", APP)
s3_app.create_bucket(Bucket="flow1-app-uploads")
s3_app.put_bucket_tagging(
    Bucket="flow1-app-uploads",
    Tagging={"TagSet": owned("app/us-east-1/s3_bucket.flow1-app-uploads")},
)
s3_app.put_bucket_versioning(
    Bucket="flow1-app-uploads", VersioningConfiguration={"Status": "Enabled"}
)
s3_app.put_bucket_encryption(
    Bucket="flow1-app-uploads",
    ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    },
)
s3_app.put_public_access_block(
    Bucket="flow1-app-uploads",
    PublicAccessBlockConfiguration={
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    },
)
s3_app.put_bucket_policy(
    Bucket="flow1-app-uploads",
    Policy='{"Statement": [{"Sid": "tether_flow1_DenyInsecureTransport", "Effect": "Deny", '
    '"Principal": "*", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::flow1-app-uploads/*", '
    '"arn:aws:s3:::flow1-app-uploads"], "Condition": {"Bool": {"aws:SecureTransport": '
    '["false"]}}}], "Version": "2012-10-17"}',
)
s3_app.put_bucket_notification_configuration(
    Bucket="flow1-app-uploads",
    NotificationConfiguration={"EventBridgeConfiguration": {}},
)

# ----- EventBridge --------------------------------------------------------------------

events = c("events", TOOLS)
events.create_event_bus(
    Name="flow1-triggers", Tags=owned("tools/us-east-1/event_bus.flow1-triggers")
)
events.put_permission(
    EventBusName="flow1-triggers",
    Policy="""{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "tether_flow1_AcceptFrom-222222222222",
    "Effect": "Allow",
    "Principal": {"AWS": "222222222222"},
    "Action": ["events:PutEvents"],
    "Resource": "arn:aws:events:us-east-1:123456789012:event-bus/flow1-triggers"
  }]
}""",
)
pattern = """{
  "source": ["aws.s3"],
  "detail-type": ["Object Created"],
  "detail": {
    "object": {"key": ["releases/app.zip"]},
    "bucket": {"name": ["flow1-app-uploads"]}
  }
}"""
events.put_rule(
    Name="flow1-on-upload-start",
    EventBusName="flow1-triggers",
    EventPattern=pattern,
    State="ENABLED",
    Description="tether flow1: trigger on-upload",
    Tags=owned("tools/us-east-1/event_rule.flow1-triggers/flow1-on-upload-start"),
)

events_app = c("events", APP)
events_app.put_rule(
    Name="flow1-on-upload-forward",
    EventPattern='{"detail":{"bucket":{"name":["flow1-app-uploads"]},"object":{"key":'
    '["releases/app.zip"]}},"detail-type":["Object Created"],"source":["aws.s3"]}',
    State="ENABLED",
    Description="tether flow1: trigger on-upload",
    Tags=owned("app/us-east-1/event_rule.default/flow1-on-upload-forward"),
)
events_app.put_targets(
    Rule="flow1-on-upload-forward",
    Targets=[
        {
            "Id": "bus",
            "Arn": "arn:aws:events:us-east-1:123456789012:event-bus/flow1-triggers",
            "RoleArn": "arn:aws:iam::222222222222:role/tether/flow1/flow1-on-upload-forward",
            "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
            "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:222222222222:flow1-dead-letter"},
        }
    ],
)

# ----- SQS dead-letter queues, one per rule account -----------------------------------

for account, rule in [
    (APP, "arn:aws:events:us-east-1:222222222222:rule/flow1-on-upload-forward"),
    (TOOLS, "arn:aws:events:us-east-1:123456789012:rule/flow1-triggers/flow1-on-upload-start"),
]:
    queue = f"arn:aws:sqs:us-east-1:{account}:flow1-dead-letter"
    c("sqs", account).create_queue(
        QueueName="flow1-dead-letter",
        Attributes={
            "MessageRetentionPeriod": "1209600",
            "SqsManagedSseEnabled": "true",
            "Policy": '{"Version": "2012-10-17", "Statement": [{"Sid": "tether_flow1_DeadLetter", '
            '"Principal": {"Service": ["events.amazonaws.com"]}, "Effect": "Allow", '
            '"Resource": "' + queue + '", "Action": ["sqs:SendMessage"], '
            '"Condition": {"ArnEquals": {"aws:SourceArn": ["' + rule + '"]}}}]}',
        },
        tags=dict((t["Key"], t["Value"]) for t in owned(f"{'app' if account == APP else 'tools'}/us-east-1/sqs_queue.flow1-dead-letter")),
    )

# ----- CodePipeline, tools account ----------------------------------------------------

codepipeline = c("codepipeline", TOOLS)
codepipeline.create_pipeline(
    pipeline={
        "name": "flow1-release",
        "roleArn": "arn:aws:iam::123456789012:role/tether/flow1/flow1-release-pipeline",
        "artifactStore": {
            "type": "S3",
            "location": "flow1-artifacts-123456789012-us-east-1",
            "encryptionKey": {
                "id": KEY_ARN,
                "type": "KMS",
            },
        },
        "pipelineType": "V2",
        "executionMode": "QUEUED",
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "source",
                        "actionTypeId": {
                            "category": "Source",
                            "owner": "AWS",
                            "provider": "S3",
                            "version": "1",
                        },
                        "runOrder": 1,
                        "roleArn": "arn:aws:iam::222222222222:role/tether/flow1/flow1-release-source",
                        "configuration": {
                            "S3Bucket": "flow1-app-uploads",
                            "S3ObjectKey": "releases/app.zip",
                            "PollForSourceChanges": "false",
                        },
                        "outputArtifacts": [{"name": "Source-source"}],
                    }
                ],
            },
            {
                "name": "Build",
                "actions": [
                    {
                        "name": "build",
                        "actionTypeId": {
                            "category": "Build",
                            "owner": "AWS",
                            "provider": "CodeBuild",
                            "version": "1",
                        },
                        "runOrder": 1,
                        "configuration": {"ProjectName": "app-build"},
                        "inputArtifacts": [{"name": "Source-source"}],
                    }
                ],
            },
        ],
    },
    tags=owned("tools/us-east-1/pipeline.flow1-release", "key", "value"),
)
events.put_targets(
    Rule="flow1-on-upload-start",
    EventBusName="flow1-triggers",
    Targets=[
        {
            "Id": "pipeline-release",
            "Arn": "arn:aws:codepipeline:us-east-1:123456789012:flow1-release",
            "RoleArn": "arn:aws:iam::123456789012:role/tether/flow1/flow1-on-upload-start",
            "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:123456789012:flow1-dead-letter"},
            "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
            # As the console's input transformer dialog leaves it: indented, keys in
            # the order the CodePipeline guide lists them.
            "InputTransformer": {
                "InputPathsMap": {"revisionValue": "$.detail.object.version-id"},
                "InputTemplate": changed(
                    """{
  "sourceRevisions": [
    {
      "actionName": "source",
      "revisionType": "S3_OBJECT_VERSION_ID",
      "revisionValue": "<revisionValue>"
    }
  ]
}""",
                    "other-action",
                    '"actionName": "source"',
                    '"actionName": "build"',
                ),
            },
        }
    ],
)
