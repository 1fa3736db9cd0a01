"""The boto3 S3 client every e2e script uses: E2E_ENDPOINT, path style,
SigV4, one attempt (a retry would hide what the first answer was)."""
import os

import boto3
from botocore.config import Config


def s3_client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["E2E_ENDPOINT"],
        region_name="us-east-1",
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )
