"""Production store: S3 (AWS or MinIO) through boto3.

Each object PUT is atomic in S3, and the manifest goes last, so the base class's publish
protocol holds here unchanged.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from autodp.store.base import ArtifactStore


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

    def exists(self, path: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def read_bytes(self, path: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read()

    def write_bytes(self, path: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(path), Body=data)

    def upload(self, local_path: Path, path: str) -> None:
        self.client.upload_file(str(local_path), self.bucket, self._key(path))

    def download(self, path: str, local_path: Path) -> None:
        self.client.download_file(self.bucket, self._key(path), str(local_path))

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
