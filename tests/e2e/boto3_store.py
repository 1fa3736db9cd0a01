"""boto3 checks of the embedded store's S3 behaviour, through s3gate.

Usage: boto3_store.py MODE BUCKET  (endpoint from E2E_ENDPOINT, credentials
from the standard AWS_* variables). Prints one JSON object of what boto3
saw; the Rust test asserts on it.

MODEs:
  keys         puts every key of the JSON list in E2E_KEYS (body: "body <i>"),
               then lists (v2, v1, versions; boto3's default
               encoding-type=url) and gets each back.
  integrity    a wrong Content-MD5 and a wrong CRC32, then what is visible.
  versioning   enable, two writes, delete, read versions, remove the marker.
  conditional  If-None-Match / If-Match on PUT, conditional GETs.
"""
import base64
import hashlib
import json
import os
import sys
from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError

from e2e_boto3 import s3_client

mode, bucket = sys.argv[1], sys.argv[2]
s3 = s3_client()


def outcome(call):
    """'ok', or the error code (HEAD errors have only the status)."""
    try:
        call()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


def all_keys(method, field, **kw):
    pages = s3.get_paginator(method).paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}, **kw)
    return [o["Key"] for p in pages for o in p.get(field, [])]


out = {}
if mode == "keys":
    keys = json.loads(os.environ["E2E_KEYS"])
    out["put"] = [outcome(lambda k=k, i=i: s3.put_object(Bucket=bucket, Key=k, Body=f"body {i}".encode())) for i, k in enumerate(keys)]
    out["list_v2"] = all_keys("list_objects_v2", "Contents")
    out["list_v1"] = all_keys("list_objects", "Contents")
    out["versions"] = all_keys("list_object_versions", "Versions")
    got = []
    for k in keys:
        try:
            got.append(s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode())
        except ClientError as e:
            got.append(e.response["Error"]["Code"])
    out["get"] = got
elif mode == "integrity":
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    out["bad_md5"] = outcome(lambda: s3.put_object(Bucket=bucket, Key="md5", Body=b"data", ContentMD5=wrong_md5))
    out["bad_crc32"] = outcome(lambda: s3.put_object(Bucket=bucket, Key="crc", Body=b"data", ChecksumCRC32="AAAAAA=="))
    out["head_md5"] = outcome(lambda: s3.head_object(Bucket=bucket, Key="md5"))
    out["head_crc"] = outcome(lambda: s3.head_object(Bucket=bucket, Key="crc"))
    out["listed"] = all_keys("list_objects_v2", "Contents")
    out["good_sha256"] = s3.put_object(Bucket=bucket, Key="good", Body=b"data", ChecksumAlgorithm="SHA256").get("ChecksumSHA256")
elif mode == "versioning":
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    out["status"] = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    out["distinct_ids"] = v1 != v2
    d = s3.delete_object(Bucket=bucket, Key="k")
    out["delete_marker"] = d.get("DeleteMarker")
    out["get_after_delete"] = outcome(lambda: s3.get_object(Bucket=bucket, Key="k"))
    out["get_v1"] = s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read().decode()
    lv = s3.list_object_versions(Bucket=bucket)
    out["versions"] = [(v["VersionId"] == v1, v["VersionId"] == v2, v["IsLatest"]) for v in lv.get("Versions", [])]
    out["markers"] = [m["IsLatest"] for m in lv.get("DeleteMarkers", [])]
    s3.delete_object(Bucket=bucket, Key="k", VersionId=d["VersionId"])
    out["get_after_marker_removed"] = s3.get_object(Bucket=bucket, Key="k")["Body"].read().decode()
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    out["get_after_v2_removed"] = s3.get_object(Bucket=bucket, Key="k")["Body"].read().decode()
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    out["suspended_id"] = s3.put_object(Bucket=bucket, Key="k", Body=b"three").get("VersionId")
    out["suspended_versions"] = len(s3.list_object_versions(Bucket=bucket).get("Versions", []))
elif mode == "conditional":
    out["create_new"] = outcome(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"one", IfNoneMatch="*"))
    out["create_existing"] = outcome(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"two", IfNoneMatch="*"))
    etag = s3.head_object(Bucket=bucket, Key="c")["ETag"]
    out["overwrite_wrong_etag"] = outcome(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"three", IfMatch='"0123"'))
    out["body_after_refusals"] = s3.get_object(Bucket=bucket, Key="c")["Body"].read().decode()
    out["overwrite_right_etag"] = outcome(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"four", IfMatch=etag))
    etag = s3.head_object(Bucket=bucket, Key="c")["ETag"]
    out["get_if_none_match"] = outcome(lambda: s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag))
    out["get_if_match_wrong"] = outcome(lambda: s3.get_object(Bucket=bucket, Key="c", IfMatch='"0123"'))
    future = datetime.now(timezone.utc) + timedelta(days=1)
    past = datetime.now(timezone.utc) - timedelta(days=1)
    out["get_if_modified_since_future"] = outcome(lambda: s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future))
    out["get_if_unmodified_since_past"] = outcome(lambda: s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past))
    out["range"] = s3.get_object(Bucket=bucket, Key="c", Range="bytes=1-2")["Body"].read().decode()
    out["copy_if_match_wrong"] = outcome(lambda: s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "c"}, CopySourceIfMatch='"0123"'))
else:
    sys.exit(f"unknown mode {mode}")
print(json.dumps(out))
