#!/usr/bin/env python3
"""Prints presigned S3 URLs, one per line, for the load bench.

usage: presign.py ENDPOINT ACCESS_KEY SECRET TOKEN|- METHOD:BUCKET/KEY|BUCKET:BUCKET...

(`BUCKET:NAME` presigns the PUT that creates bucket NAME.)

Signed by botocore (SigV4, path style, 1 hour), an independent signer: the
URL's host is ENDPOINT's, so presign for the host the verifier will see.
"""
import sys

import boto3
from botocore.config import Config


def main():
    endpoint, access, secret, token, *targets = sys.argv[1:]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        aws_session_token=None if token == "-" else token,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    ops = {"GET": "get_object", "PUT": "put_object"}
    for target in targets:
        method, path = target.split(":", 1)
        if method == "BUCKET":
            print(s3.generate_presigned_url("create_bucket", Params={"Bucket": path}, ExpiresIn=3600))
            continue
        bucket, key = path.split("/", 1)
        print(
            s3.generate_presigned_url(
                ops[method], Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
            )
        )


if __name__ == "__main__":
    main()
