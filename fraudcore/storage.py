"""Clients for the S3-compatible object store (SeaweedFS locally, MinIO on Kubernetes)."""

from __future__ import annotations

from urllib.parse import urlparse

import boto3
import botocore.client
import botocore.exceptions
from pyarrow import fs

from fraudcore.settings import Settings, get_settings


def s3_client(settings: Settings | None = None) -> botocore.client.BaseClient:
    """A boto3 S3 client for the configured endpoint."""
    settings = settings or get_settings()
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        region_name=settings.s3_region,
        config=botocore.client.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )


def arrow_filesystem(settings: Settings | None = None) -> fs.S3FileSystem:
    """A pyarrow filesystem on the object store, for reading and writing parquet datasets."""
    settings = settings or get_settings()
    endpoint = urlparse(settings.s3_endpoint_url)
    return fs.S3FileSystem(
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        region=settings.s3_region,
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme,
        force_virtual_addressing=False,
    )


def ensure_buckets(names: list[str], settings: Settings | None = None) -> list[str]:
    """Create the buckets that do not exist yet; return the ones created."""
    client = s3_client(settings)
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    created = []
    for name in names:
        if name not in existing:
            try:
                client.create_bucket(Bucket=name)
            except botocore.exceptions.ClientError as error:
                if error.response["Error"]["Code"] not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise
            created.append(name)
    return created
