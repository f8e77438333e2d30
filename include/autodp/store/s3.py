"""Production store: S3 (AWS, MinIO, SeaweedFS) through boto3.

Each object PUT is atomic in S3, so the base class's publish protocol holds here: a file
or manifest is created with ``If-None-Match: *`` (S3's conditional write), and each
object carries its SHA-256 checksum so a digest needs no download. boto3 retries
throttling and dropped connections; what still fails becomes a ``StoreError`` naming the
bucket and key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from autodp.store.base import ArtifactStore, StoreError

T = TypeVar("T")
NOT_FOUND = ("404", "NoSuchKey", "NotFound")


def _named_failures(method: Callable[..., T]) -> Callable[..., T]:
    """S3's errors (refused credentials, no server, throttled past retries) as StoreErrors."""
    @functools.wraps(method)
    def wrapper(self: S3Store, path: str, *args: Any) -> T:
        try:
            return method(self, path, *args)
        except ClientError as error:
            details = error.response.get("Error", {})
            if details.get("Code") in NOT_FOUND:
                raise FileNotFoundError(f"{self.location(path)} does not exist") from error
            problem = f"{details.get('Code', 'error')}: {details.get('Message', error)}"
            raise StoreError(f"S3 bucket {self.bucket!r} refused {method.__name__} of {self._key(path)!r} "
                             f"({problem})") from error
        except BotoCoreError as error:
            raise StoreError(f"S3 bucket {self.bucket!r} at {self.endpoint_url}: {method.__name__} of "
                             f"{self._key(path)!r} failed: {error}") from error
    return wrapper


class S3Store(ArtifactStore):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
    ):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        session = boto3.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            region_name=region,
        )
        self._session = session
        self.client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
        self.endpoint_url = self.client.meta.endpoint_url
        self.region = self.client.meta.region_name or "us-east-1"

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    @_named_failures
    def exists(self, path: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        except ClientError as error:
            if error.response["Error"]["Code"] in NOT_FOUND:
                return False
            raise
        return True

    @_named_failures
    def read_bytes(self, path: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read()

    @_named_failures
    def write_bytes(self, path: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(path), Body=data, ChecksumAlgorithm="SHA256")

    @_named_failures
    def create(self, local_path: Path, path: str) -> bool:
        # One PUT (objects up to 5 GB): the conditional header applies to it whole.
        try:
            with open(local_path, "rb") as body:
                self.client.put_object(Bucket=self.bucket, Key=self._key(path), Body=body,
                                       IfNoneMatch="*", ChecksumAlgorithm="SHA256")
        except ClientError as error:
            if error.response["Error"]["Code"] in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise
        return True

    @_named_failures
    def digest(self, path: str) -> tuple[int, str]:
        head = self.client.head_object(Bucket=self.bucket, Key=self._key(path), ChecksumMode="ENABLED")
        checksum = head.get("ChecksumSHA256", "")
        if checksum and "-" not in checksum:  # a multipart upload's checksum is of its parts
            return head["ContentLength"], base64.b64decode(checksum).hex()
        hasher = hashlib.sha256()
        for chunk in self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].iter_chunks(1 << 20):
            hasher.update(chunk)
        return head["ContentLength"], hasher.hexdigest()

    @_named_failures
    def download(self, path: str, local_path: Path) -> None:
        self.client.download_file(self.bucket, self._key(path), str(local_path))

    @_named_failures
    def list(self, prefix: str) -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            found.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(found)

    def location(self, path: str) -> str:
        return f"s3://{self.bucket}/{self._key(path)}"

    def duckdb_secret(self) -> dict[str, str] | None:
        endpoint = urlparse(self.endpoint_url)
        on_aws = endpoint.netloc.endswith("amazonaws.com")
        secret = {
            "type": "s3",
            "region": self.region,
            "endpoint": endpoint.netloc,
            "use_ssl": "true" if endpoint.scheme == "https" else "false",
            # Path style for MinIO/SeaweedFS on a bare host:port; AWS takes virtual hosts.
            "url_style": "vhost" if on_aws else "path",
            "scope": f"s3://{self.bucket}",
        }
        credentials = self._session.get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            secret["key_id"] = frozen.access_key
            secret["secret"] = frozen.secret_key
            if frozen.token:
                secret["session_token"] = frozen.token
        return secret
