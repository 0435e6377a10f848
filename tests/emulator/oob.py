"""Runs a snippet of boto3 code against the emulator, as another tool (or a person in
the console) would: `oob.py ENDPOINT CODE`. In CODE, `c(service, account_id, region)`
returns a client acting in that account (assuming a role there when it is not the
emulator's own account).
"""

import json  # noqa: F401  (available to snippets)
import sys

import boto3

AMBIENT = "123456789012"
ENDPOINT = sys.argv[1]


def c(service, account_id=AMBIENT, region="us-east-1"):
    creds = dict(aws_access_key_id="testing", aws_secret_access_key="testing")
    if account_id != AMBIENT:
        sts = boto3.client("sts", endpoint_url=ENDPOINT, region_name=region, **creds)
        k = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
            RoleSessionName="other-tool",
        )["Credentials"]
        creds = dict(
            aws_access_key_id=k["AccessKeyId"],
            aws_secret_access_key=k["SecretAccessKey"],
            aws_session_token=k["SessionToken"],
        )
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=region, **creds)


exec(sys.argv[2])
