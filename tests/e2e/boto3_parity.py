"""A table of S3 behaviours, run with boto3 against one S3 endpoint.

Usage: boto3_parity.py BUCKET  (endpoint from E2E_ENDPOINT, credentials
from the standard AWS_* variables). Creates BUCKET and a versioned
BUCKET-v, runs each behaviour, and prints a JSON object: behaviour name ->
what the endpoint answered ("ok", an error code, "304"/"404" for HEAD and
conditional GETs, or the value read back). The Rust test compares stores.
"""
import base64
import hashlib
import json
import re
import sys
import time

import requests  # installed with moto[server] (tests/testbed/requirements.txt)

from botocore.exceptions import ClientError

from e2e_boto3 import s3_client

bucket = sys.argv[1]
versioned = bucket + "-v"
s3 = s3_client()
MIB = 1024 * 1024


def run(call):
    try:
        result = call()
        return "ok" if result is None or isinstance(result, dict) else result
    except ClientError as e:
        return e.response["Error"]["Code"]


def body(key, b=bucket, **kw):
    return s3.get_object(Bucket=b, Key=key, **kw)["Body"].read().decode()


def put(key, data, b=bucket, **kw):
    return s3.put_object(Bucket=b, Key=key, Body=data, **kw)


def keys(**kw):
    return ",".join(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, **kw).get("Contents", []))


s3.create_bucket(Bucket=bucket)
s3.create_bucket(Bucket=versioned)
s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Enabled"})

out = {}
out["create_bucket_again"] = run(lambda: s3.create_bucket(Bucket=bucket))
out["head_missing_bucket"] = run(lambda: s3.head_bucket(Bucket=bucket + "-none"))
out["get_missing_key"] = run(lambda: body("missing"))
out["double_slash_is_its_own_key"] = run(lambda: (put("a//b", b"1"), put("a/b", b"2"), body("a//b") + body("a/b"))[-1])
out["folder_marker"] = run(lambda: (put("dir/", b""), s3.head_object(Bucket=bucket, Key="dir/"))[-1])
out["leading_slash"] = run(lambda: (put("/lead", b"L"), body("/lead"))[-1])
out["key_and_folder_of_one_name"] = run(lambda: (put("f", b"F"), put("f/g", b"G"), body("f") + body("f/g"))[-1])
out["listing_url_encoded_keys"] = run(lambda: (put("p/a+b", b""), put("p/a%2Fb", b""), put("p/a b", b""), keys(Prefix="p/"))[-1])
out["listing_delimiter"] = run(lambda: ",".join(p["Prefix"] for p in s3.list_objects_v2(Bucket=bucket, Delimiter="/").get("CommonPrefixes", [])))
out["listing_start_after"] = run(lambda: keys(Prefix="p/", StartAfter="p/a b"))
out["listing_max_keys"] = run(lambda: str(s3.list_objects_v2(Bucket=bucket, Prefix="p/", MaxKeys=1)["IsTruncated"]))
wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
out["wrong_content_md5"] = run(lambda: put("md5", b"data", ContentMD5=wrong_md5))
out["wrong_content_md5_leaves_nothing"] = run(lambda: s3.head_object(Bucket=bucket, Key="md5"))
out["wrong_crc32"] = run(lambda: put("crc", b"data", ChecksumCRC32="AAAAAA=="))
out["sha256_checksum_returned"] = run(lambda: put("sha", b"data", ChecksumAlgorithm="SHA256")["ChecksumSHA256"])
out["put_if_none_match_existing"] = run(lambda: put("a/b", b"x", IfNoneMatch="*"))
out["put_if_match_wrong"] = run(lambda: put("a/b", b"x", IfMatch='"00"'))
out["get_if_none_match_same"] = run(lambda: body("a/b", IfNoneMatch=s3.head_object(Bucket=bucket, Key="a/b")["ETag"]))
out["get_if_match_wrong"] = run(lambda: body("a/b", IfMatch='"00"'))
out["range_read"] = run(lambda: (put("r", b"0123456789"), body("r", Range="bytes=2-4"))[-1])
out["range_suffix"] = run(lambda: body("r", Range="bytes=-3"))
out["range_unsatisfiable"] = run(lambda: body("r", Range="bytes=20-30"))
out["user_metadata"] = run(lambda: (put("m", b"", Metadata={"Color": "blue"}), s3.head_object(Bucket=bucket, Key="m")["Metadata"]["color"])[-1])
out["content_type"] = run(lambda: (put("ct", b"", ContentType="text/x-test"), s3.head_object(Bucket=bucket, Key="ct")["ContentType"])[-1])
out["copy_keeps_metadata"] = run(lambda: (s3.copy_object(Bucket=bucket, Key="m2", CopySource={"Bucket": bucket, "Key": "m"}), s3.head_object(Bucket=bucket, Key="m2")["Metadata"]["color"])[-1])
out["copy_replaces_metadata"] = run(lambda: (s3.copy_object(Bucket=bucket, Key="m3", CopySource={"Bucket": bucket, "Key": "m"}, MetadataDirective="REPLACE", Metadata={"color": "red"}), s3.head_object(Bucket=bucket, Key="m3")["Metadata"]["color"])[-1])
out["copy_to_itself_unchanged"] = run(lambda: s3.copy_object(Bucket=bucket, Key="m", CopySource={"Bucket": bucket, "Key": "m"}))
out["copy_source_if_match_wrong"] = run(lambda: s3.copy_object(Bucket=bucket, Key="m4", CopySource={"Bucket": bucket, "Key": "m"}, CopySourceIfMatch='"00"'))
out["object_tagging"] = run(lambda: (s3.put_object_tagging(Bucket=bucket, Key="m", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}), s3.get_object_tagging(Bucket=bucket, Key="m")["TagSet"][0]["Value"])[-1])
out["tagging_header"] = run(lambda: (put("t", b"", Tagging="a=1&b=2"), str(len(s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"])))[-1])
out["bucket_tagging_missing"] = run(lambda: s3.get_bucket_tagging(Bucket=bucket))
out["delete_objects"] = run(lambda: str(len(s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "t"}, {"Key": "ct"}]})["Deleted"])))
out["delete_missing_key"] = run(lambda: s3.delete_object(Bucket=bucket, Key="never-was"))
out["delete_non_empty_bucket"] = run(lambda: s3.delete_bucket(Bucket=bucket))


def multipart(sizes, etag_fix=None):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = []
    for n, size in enumerate(sizes, 1):
        e = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n, Body=b"x" * size)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag_fix(e) if etag_fix else e})
    try:
        r = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
        return r["ETag"].strip('"').split("-")[1]
    finally:
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up)
        except ClientError:
            pass


out["multipart_etag_parts"] = run(lambda: multipart([5 * MIB, 1]))
out["multipart_small_part"] = run(lambda: multipart([1, 1]))
out["multipart_wrong_etag"] = run(lambda: multipart([1], lambda e: '"00000000000000000000000000000000"'))
out["get_part_of_multipart"] = run(lambda: str(s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)["ContentLength"]))
out["head_part_one_of_simple_object"] = run(lambda: str(s3.head_object(Bucket=bucket, Key="r", PartNumber=1)["ContentLength"]))
out["abort_unknown_upload"] = run(lambda: s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId="0" * 32))
out["versioning_status"] = run(lambda: s3.get_bucket_versioning(Bucket=versioned)["Status"])


def versions():
    v1 = put("k", b"one", b=versioned)["VersionId"]
    put("k", b"two", b=versioned)
    marker = s3.delete_object(Bucket=versioned, Key="k")
    got = run(lambda: body("k", b=versioned))
    old = body("k", b=versioned, VersionId=v1)
    on_marker = run(lambda: s3.get_object(Bucket=versioned, Key="k", VersionId=marker["VersionId"]))
    listed = s3.list_object_versions(Bucket=versioned)
    return f"{got}|{old}|{on_marker}|{len(listed['Versions'])}|{len(listed['DeleteMarkers'])}"


out["versions_and_delete_marker"] = run(versions)
def delete_marker_header():
    put("dm", b"x", b=versioned)
    s3.delete_object(Bucket=versioned, Key="dm")
    try:
        s3.get_object(Bucket=versioned, Key="dm")
        return "readable"
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker", "absent")


out["get_behind_delete_marker_says_so"] = run(delete_marker_header)
out["unknown_version_id"] = run(lambda: body("k", b=versioned, VersionId="0" * 32))
out["object_acl"] = run(lambda: s3.get_object_acl(Bucket=bucket, Key="m"))
out["bucket_policy"] = run(lambda: s3.get_bucket_policy(Bucket=bucket))
out["object_lock_configuration"] = run(lambda: s3.get_object_lock_configuration(Bucket=bucket))


def error_code(r):
    m = re.search(r"<Code>([^<]*)</Code>", r.text)
    return m.group(1) if m else str(r.status_code)


def post_object(name, content, conditions):
    # A literal key: the embedded store (s3s 0.14) does not substitute
    # ${filename} in a form it is sent directly (docs/store.md); through
    # s3gate the gateway does, and the store never sees a form.
    form = s3.generate_presigned_post(
        Bucket=bucket, Key="form/" + name, Conditions=conditions, ExpiresIn=300
    )
    r = requests.post(form["url"], data=form["fields"], files={"file": (name, content)}, timeout=30)
    if r.status_code >= 300:
        return error_code(r)
    return f"{r.status_code}|{body('form/' + name)}"


out["post_object"] = run(lambda: post_object("a.txt", b"posted", []))
out["post_object_too_large"] = run(
    lambda: post_object("big.txt", b"x" * 20, [["content-length-range", 1, 10]])
)
out["post_object_too_large_leaves_nothing"] = run(lambda: s3.head_object(Bucket=bucket, Key="form/big.txt"))


def presigned_get(expires, wait):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "r"}, ExpiresIn=expires)
    # Waits out the expiry (one second) rather than forging a signing time.
    time.sleep(wait)
    r = requests.get(url, timeout=30)
    return r.text if r.status_code == 200 else error_code(r)


out["presigned_get"] = run(lambda: presigned_get(300, 0))
out["presigned_get_expired"] = run(lambda: presigned_get(1, 2))
print(json.dumps(out))
