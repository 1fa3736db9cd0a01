"""boto3's plain sts.assume_role against s3gate, for the e2e tests.

Usage: boto3_assume_role.py SESSION_NAME POLICY_JSON|- [DURATION_SECONDS]
Endpoint from E2E_ENDPOINT, the parent's credentials from the standard
AWS_* variables. Prints the answer as JSON (Expiration as ISO-8601); on an
STS error prints {"Error": CODE, "Message": ...} and exits 3.
E2E_QUOTA (optional, a form like `MaxRequests=2`) adds s3gate's quota
parameters, which botocore's model does not know, as a user would: in a
before-sign handler. E2E_UNSIGNED_PAYLOAD=1 declares the body unsigned
(`x-amz-content-sha256: UNSIGNED-PAYLOAD`, which botocore then signs in
place of the body's hash), as a client cutting corners would.
"""
import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

name, policy = sys.argv[1], sys.argv[2]
duration = int(sys.argv[3]) if len(sys.argv) > 3 else None
sts = boto3.client(
    "sts",
    endpoint_url=os.environ["E2E_ENDPOINT"],
    region_name="us-east-1",
    config=Config(retries={"max_attempts": 1, "mode": "standard"}),
)
quota = os.environ.get("E2E_QUOTA")
if quota:
    from urllib.parse import parse_qsl

    def add_quota(request, **_):
        request.data.update(parse_qsl(quota))

    sts.meta.events.register("before-sign.sts.AssumeRole", add_quota)
if os.environ.get("E2E_UNSIGNED_PAYLOAD") == "1":

    def unsigned(request, **_):
        request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"

    sts.meta.events.register("before-sign.sts.AssumeRole", unsigned)
kwargs = {"RoleArn": "arn:aws:iam::000000000000:role/agent", "RoleSessionName": name}
if policy != "-":
    kwargs["Policy"] = policy
if duration is not None:
    kwargs["DurationSeconds"] = duration
try:
    answer = sts.assume_role(**kwargs)
except ClientError as e:
    print(json.dumps({"Error": e.response["Error"]["Code"], "Message": e.response["Error"].get("Message", "")}))
    sys.exit(3)
creds = answer["Credentials"]
print(
    json.dumps(
        {
            "AccessKeyId": creds["AccessKeyId"],
            "SecretAccessKey": creds["SecretAccessKey"],
            "SessionToken": creds["SessionToken"],
            "Expiration": creds["Expiration"].isoformat(),
            "Arn": answer["AssumedRoleUser"]["Arn"],
            "AssumedRoleId": answer["AssumedRoleUser"]["AssumedRoleId"],
        }
    )
)
