"""Bootstraps moto for the e2e tests, then turns its auth mode on.

Usage: moto_bootstrap.py ENDPOINT USER_NAME
Creates an IAM user allowed s3:* and sts:AssumeRole (s3gate's own identity),
an access key for it, and two roles it may assume: USER_NAME-writer (s3:*)
and USER_NAME-reader (s3:GetObject and s3:ListBucket only, so moto refuses
a PutObject under it). Also creates USER_NAME-shared, the DynamoDB table
s3gate instances share state through (`[shared]`), as deploy/cloudformation.yaml
does (partition key `pk`, TTL on `expires_at`), and allows the user exactly the
four item actions s3gate uses (moto enforces the actions, not the
resource). Prints the key, the role
ARNs and the table as JSON. Auth mode is switched off for the bootstrap (in case an earlier run left
it on) and on at the end: from then on moto recomputes every SigV4 signature
and checks IAM policies, so only correctly re-signed requests get through.
"""
import json
import sys
import urllib.request

import boto3

endpoint, user = sys.argv[1], sys.argv[2]


def reset_auth(count):
    # moto parses the body as a float; the text/plain content type matters.
    req = urllib.request.Request(
        endpoint + "/moto-api/reset-auth",
        data=count.encode(),
        headers={"Content-Type": "text/plain"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def client(service):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )


reset_auth("inf")
iam = client("iam")
iam.create_user(UserName=user)
iam.put_user_policy(
    UserName=user,
    PolicyName="s3-all",
    PolicyDocument=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "s3:*",
                        "sts:AssumeRole",
                        "sts:TagSession",
                        "sts:SetSourceIdentity",
                    ],
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Action": [
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                    ],
                    # moto checks the action but evaluates every non-S3
                    # request against the resource "*"; CloudFormation
                    # narrows it to the table's ARN.
                    "Resource": "*",
                },
            ],
        }
    ),
)
key = iam.create_access_key(UserName=user)["AccessKey"]
account = client("sts").get_caller_identity()["Account"]
table = f"{user}-shared"
dynamodb = client("dynamodb")
dynamodb.create_table(
    TableName=table,
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    BillingMode="PAY_PER_REQUEST",
)
dynamodb.update_time_to_live(
    TableName=table,
    TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
)
trust = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:user/{user}"},
                "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
            }
        ],
    }
)
roles = {}
for suffix, actions in (("writer", ["s3:*"]), ("reader", ["s3:GetObject", "s3:ListBucket"])):
    name = f"{user}-{suffix}"
    roles[suffix] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
            }
        ),
    )
reset_auth("0")
print(
    json.dumps(
        {
            "AccessKeyId": key["AccessKeyId"],
            "SecretAccessKey": key["SecretAccessKey"],
            "WriterRoleArn": roles["writer"],
            "ReaderRoleArn": roles["reader"],
            "SharedTable": table,
        }
    )
)
