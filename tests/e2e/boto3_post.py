"""Browser form uploads (POST Object) as a web app builds them: forms from
boto3's generate_presigned_post, posted with `requests` like a browser
would, against E2E_ENDPOINT with the standard AWS_* session credentials.

Usage: boto3_post.py MODE BUCKET OTHER_BUCKET  (E2E_VHOST_DOMAIN: the
gateway's virtual-host domain)
  MODE `conditions`: the success_action_* variants, then each condition of
  the policy violated once; `acl`: one form carrying an `acl` field.
Prints a JSON object: case -> {status, code, key, location, body}, where
`key` is the object the form would have created (the Rust test checks the
store for it) and `code` the S3 error code of a refusal.
"""
import base64
import json
import os
import zlib
import re
import sys

import requests  # installed with moto[server] (tests/testbed/requirements.txt)

from e2e_boto3 import s3_client

mode, bucket, other = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = s3_client()
TAGS = "<Tagging><TagSet><Tag><Key>team</Key><Value>blue</Value></Tag></TagSet></Tagging>"


def form(key="up/${filename}", fields=None, conditions=None, expires=600, b=bucket):
    return s3.generate_presigned_post(
        Bucket=b, Key=key, Fields=fields or {}, Conditions=conditions or [], ExpiresIn=expires
    )


def post(post_form, name, content=b"hello form", extra=None, drop=(), url=None, headers=None):
    fields = {k: v for k, v in post_form["fields"].items() if k not in drop}
    fields.update(extra or {})
    r = requests.post(
        url or post_form["url"],
        data=fields,
        files={"file": (name, content)},
        headers=headers or {},
        allow_redirects=False,
        timeout=30,
    )
    return answer(r, fields.get("key", "").replace("${filename}", name))


def answer(r, key):
    code = re.search(r"<Code>([^<]*)</Code>", r.text)
    return {
        "status": r.status_code,
        "code": code.group(1) if code else "",
        "key": key,
        "location": r.headers.get("Location", ""),
        "etag": r.headers.get("ETag", ""),
        "body": r.text[:2000],
    }


out = {}
if mode == "acl":
    f = form(fields={"acl": "private"}, conditions=[{"acl": "private"}])
    out["acl_needs_put_object_acl"] = post(f, "acl.txt")
    print(json.dumps(out))
    sys.exit(0)

# Success, in each of S3's answers.
out["ok_204"] = post(form(), "ok_204.txt")
out["ok_200"] = post(
    form(fields={"success_action_status": "200"}, conditions=[{"success_action_status": "200"}]),
    "ok_200.txt",
)
out["ok_201"] = post(
    form(fields={"success_action_status": "201"}, conditions=[{"success_action_status": "201"}]),
    "ok_201.txt",
)
redirect = "http://app.example/done?from=form"
out["ok_303"] = post(
    form(
        fields={"success_action_redirect": redirect},
        conditions=[{"success_action_redirect": redirect}],
    ),
    "ok_303.txt",
)
meta = form(
    fields={"Content-Type": "text/plain", "x-amz-meta-color": "blue", "tagging": TAGS},
    conditions=[
        ["starts-with", "$Content-Type", "text/"],
        ["starts-with", "$x-amz-meta-color", ""],
        {"tagging": TAGS},
        ["content-length-range", 1, 100],
    ],
)
out["ok_fields"] = post(meta, "ok_fields.txt")
# Virtual-hosted: the bucket in the Host header, the form posted to `/`.
endpoint = os.environ["E2E_ENDPOINT"]
out["ok_virtual_host"] = post(
    form(), "ok_virtual_host.txt", url=endpoint + "/", headers={"Host": bucket + "." + os.environ["E2E_VHOST_DOMAIN"]}
)
head = s3.head_object(Bucket=bucket, Key="up/ok_fields.txt")
tags = s3.get_object_tagging(Bucket=bucket, Key="up/ok_fields.txt")["TagSet"]
out["ok_fields"]["stored"] = "|".join(
    [head["ContentType"], head["Metadata"].get("color", ""), ",".join(t["Key"] + "=" + t["Value"] for t in tags)]
)

crc = base64.b64encode(zlib.crc32(b"hello form").to_bytes(4, "big")).decode()
summed = form(fields={"x-amz-checksum-crc32": crc}, conditions=[["starts-with", "$x-amz-checksum-crc32", ""]])
out["ok_checksum"] = post(summed, "ok_checksum.txt")
# A digest the file does not match: refused while streaming, nothing stored.
out["wrong_checksum"] = post(summed, "wrong_checksum.txt", content=b"hello farm")

# Each condition violated once.
out["key_outside_prefix"] = post(form(), "x.txt", extra={"key": "elsewhere/key_outside_prefix.txt"})
ranged = form(conditions=[["content-length-range", 5, 10]])
out["too_large"] = post(ranged, "too_large.txt", content=b"x" * 11)
out["too_small"] = post(ranged, "too_small.txt", content=b"x")
typed = form(fields={"Content-Type": "image/png"}, conditions=[["starts-with", "$Content-Type", "image/"]])
out["content_type"] = post(typed, "content_type.txt", extra={"Content-Type": "text/html"})
colored = form(fields={"x-amz-meta-color": "blue"}, conditions=[{"x-amz-meta-color": "blue"}])
out["meta_value"] = post(colored, "meta_value.txt", extra={"x-amz-meta-color": "red"})
out["extra_field"] = post(form(), "extra_field.txt", extra={"x-amz-meta-extra": "unsigned"})
status = form(fields={"success_action_status": "201"}, conditions=[{"success_action_status": "201"}])
out["success_status"] = post(status, "success_status.txt", extra={"success_action_status": "200"})
redirected = form(
    fields={"success_action_redirect": redirect}, conditions=[{"success_action_redirect": redirect}]
)
out["success_redirect"] = post(
    redirected, "success_redirect.txt", extra={"success_action_redirect": "http://evil.example/"}
)
tagged = form(fields={"tagging": TAGS}, conditions=[{"tagging": TAGS}])
out["tagging"] = post(tagged, "tagging.txt", extra={"tagging": TAGS.replace("blue", "red")})
out["bucket"] = post(form(), "bucket.txt", url=form(b=other)["url"])
out["bucket"]["key"] = "up/bucket.txt"
out["expired"] = post(form(expires=-60), "expired.txt")
# Past the 7 days a presigned URL may live, though the session still holds.
out["too_long"] = post(form(expires=8 * 24 * 3600), "too_long.txt")
tampered = form()
doc = json.loads(base64.b64decode(tampered["fields"]["policy"]))
doc["conditions"] = [c for c in doc["conditions"] if not (isinstance(c, list) and c[1] == "$key")]
tampered["fields"]["policy"] = base64.b64encode(json.dumps(doc).encode()).decode()
out["tampered_policy"] = post(tampered, "tampered_policy.txt", extra={"key": "anywhere/tampered_policy.txt"})
out["tampered_policy"]["key"] = "anywhere/tampered_policy.txt"
out["no_session_token"] = post(form(), "no_session_token.txt", drop=("x-amz-security-token",))
out["policy_file_scope"] = post(
    form(key="${filename}", conditions=[["starts-with", "$key", ""]]), "policy_file_scope.txt"
)
out["no_policy"] = post(form(), "no_policy.txt", drop=("policy", "x-amz-signature"))

# A part after the file: its length no longer matches the request's, so
# the upload is cut before the store commits it.
f = form()
boundary = "s3gateTestBoundary"
parts = []
for k, v in f["fields"].items():
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
parts.append(
    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="file_not_last.txt"\r\n\r\n'.encode()
)
parts.append(b"0123456789" * 1000)
parts.append(f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="after"\r\n\r\nx\r\n'.encode())
parts.append(f"--{boundary}--\r\n".encode())
r = requests.post(
    f["url"],
    data=b"".join(parts),
    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    timeout=30,
)
out["file_not_last"] = answer(r, "up/file_not_last.txt")
r = requests.post(f["url"], data=f["fields"], timeout=30)
out["not_multipart"] = answer(r, "up/${filename}")
print(json.dumps(out))
