"""Settings: the one configuration object, read from ``MAESTRO_*`` variables or a .env file.

Built once in ``bootstrap.py`` and passed down; nothing reads the environment elsewhere.
The embedded default keeps everything under ``data_dir``: the SQLite file, the artifact
directory and a generated secret key (mode 0600).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "production"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MAESTRO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Environment = "development"
    data_dir: Path = Path("./maestro-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite file under data_dir"
    )
    artifact_root: str | None = Field(
        default=None, description="fsspec URL or path; default <data_dir>/artifacts"
    )
    redis_url: str | None = None
    secret_key: SecretStr | None = Field(
        default=None, description="HMAC/JWT secret; generated into data_dir when unset"
    )

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None

    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None

    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    jwt_issuer: str = "maestro-ml"
    jwt_audience: str = "maestro-api"

    max_body_bytes: int = 10 * 1024 * 1024
    max_upload_bytes: int = 1024 * 1024 * 1024
    max_page_size: int = 1000
    max_batch_rows: int = 10_000
    db_pool_size: int = 10

    run_worker: bool = Field(default=True, description="run an in-process job worker")
    worker_concurrency: int = 1
    worker_poll_seconds: float = 0.5
    job_lease_seconds: int = 60
    job_timeout_seconds: int = 3600

    model_cache_bytes: int = 2 * 1024**3
    route_table_ttl_seconds: float = Field(
        default=5.0, description="how long a replica serves a cached deployment route"
    )
    api_key_cache_seconds: float = 10.0

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment == "production":
            if self.secret_key is None or len(self.secret_key.get_secret_value()) < 32:
                raise ValueError(
                    "MAESTRO_SECRET_KEY must be set to at least 32 characters in production"
                )
            if self.database_url is None or self.database_url.startswith("sqlite"):
                raise ValueError("production needs MAESTRO_DATABASE_URL pointing at PostgreSQL")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'maestro.db').resolve()}"

    @property
    def resolved_artifact_root(self) -> str:
        if self.artifact_root:
            return self.artifact_root
        return str((self.data_dir / "artifacts").resolve())

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once into ``data_dir/secret.key`` (0600)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        self.ensure_data_dir()
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race: use its key
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key
