"""boto3 as a user would drive it, for the e2e tests.

Usage: boto3_client.py OP BUCKET KEY [FILE|SECONDS]
Endpoint from E2E_ENDPOINT, credentials from the standard AWS_* variables.
OPs: put/get (PutObject/GetObject of a whole file), upload/download
(s3transfer: multipart above 8 MiB), list (prints ListObjectsV2 as JSON),
head, delete, presign-get/presign-put (prints a presigned URL valid SECONDS),
put-with (PutObject of a small body with the extra parameters of the JSON
ARG, e.g. {"ACL": "public-read"}), copy (CopyObject from the source ARG), delete-many (DeleteObjects of KEY and
the keys of the JSON list ARG).
"""
import json
import sys

from boto3.s3.transfer import TransferConfig

from e2e_boto3 import s3_client

op, bucket, key = sys.argv[1], sys.argv[2], sys.argv[3]
arg = sys.argv[4] if len(sys.argv) > 4 else None
s3 = s3_client()
MIB = 1024 * 1024
transfer = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)

if op == "put":
    with open(arg, "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=f.read())
elif op == "get":
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with open(arg, "wb") as f:
        f.write(body)
elif op == "upload":
    s3.upload_file(arg, bucket, key, Config=transfer)
elif op == "download":
    s3.download_file(bucket, key, arg, Config=transfer)
elif op == "list":
    resp = s3.list_objects_v2(Bucket=bucket, Prefix=key)
    print(json.dumps([o["Key"] for o in resp.get("Contents", [])]))
elif op == "head":
    print(json.dumps({"ContentLength": s3.head_object(Bucket=bucket, Key=key)["ContentLength"]}))
elif op == "delete":
    s3.delete_object(Bucket=bucket, Key=key)
elif op in ("presign-get", "presign-put"):
    method = "get_object" if op == "presign-get" else "put_object"
    print(
        s3.generate_presigned_url(
            method, Params={"Bucket": bucket, "Key": key}, ExpiresIn=int(arg)
        )
    )
elif op == "put-with":
    s3.put_object(Bucket=bucket, Key=key, Body=b"s3gate", **json.loads(arg))
elif op == "delete-many":
    keys = [key] + json.loads(arg)
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    print(json.dumps(resp.get("Errors", [])))
elif op == "copy":
    s3.copy_object(Bucket=bucket, Key=key, CopySource=arg)
else:
    sys.exit(f"unknown op {op}")
