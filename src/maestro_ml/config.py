"""Settings: the one configuration object, read from ``MAESTRO_*`` variables or a .env file.

Built once in ``bootstrap.py`` and passed down; nothing reads the environment elsewhere.
The embedded default keeps everything under ``data_dir``: the SQLite file, the artifact
directory and a generated secret key (mode 0600).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    jwt_secret: SecretStr | None = Field(
        default=None, description="JWT signing key; default: secret_key. Rotate it by moving "
        "the old value into jwt_previous_secrets"
    )
    jwt_previous_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="earlier JWT signing keys, still accepted for "
        "verification (comma-separated or a JSON array)",
    )

    max_body_bytes: int = 10 * 1024 * 1024
    max_upload_bytes: int = 1024 * 1024 * 1024
    max_page_size: int = 1000
    max_batch_rows: int = 10_000
    max_json_depth: int = Field(default=32, description="deepest nesting of a JSON body")
    max_string_bytes: int = Field(default=1024 * 1024, description="longest string in a JSON body")
    db_pool_size: int = 10

    # Security headers, trusted hosts and CORS (lists: comma-separated or a JSON array).
    hsts_seconds: int = 31_536_000
    hsts_always: bool = Field(default=False, description="send HSTS on plain-HTTP requests too")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host headers accepted (DNS-rebinding defence); '*.example.com' and '*' "
        "allowed; empty: localhost, 127.0.0.1, [::1] and the hosts of public_url and host",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS; empty: CORS closed"
    )
    fetch_allow_private: bool = Field(
        default=False, description="let server-side URL fetches reach private/loopback addresses"
    )
    fetch_timeout_seconds: float = 30.0

    run_worker: bool = Field(default=True, description="run an in-process job worker")
    worker_concurrency: int = 1
    worker_poll_seconds: float = 0.5
    job_lease_seconds: int = 60
    job_timeout_seconds: int = 3600

    model_cache_bytes: int = 2 * 1024**3
    model_worker_timeout_seconds: float = Field(
        default=60.0, description="load/predict timeout of the isolated pickle-model worker"
    )
    route_table_ttl_seconds: float = Field(
        default=5.0, description="how long a replica serves a cached deployment route"
    )
    api_key_cache_seconds: float = 10.0
    # Serving data plane: micro-batching of concurrent predictions for one model.
    serving_batching: bool = Field(
        default=True, description="merge concurrent predict requests for one model into a call"
    )
    serving_batch_max_rows: int = Field(
        default=256, ge=1, description="most rows in one merged model call"
    )
    serving_compile_onnx: bool = Field(
        default=False, description="serve numeric scikit-learn models through ONNX Runtime "
        "when they agree with the native model on the version's validation rows",
    )
    serving_model_threads: int = Field(
        default=4, ge=0, description="threads running merged model calls; 0: on the event loop"
    )
    route_invalidation_channel: str = Field(
        default="maestro:route-invalidation",
        description="Redis channel on which replicas announce deployment route changes",
    )
    # Prediction log, feedback and A/B tests.
    prediction_log_queue_size: int = Field(
        default=10_000, ge=1, description="records waiting to be written; beyond: dropped, counted"
    )
    prediction_log_batch_size: int = Field(default=500, ge=1, description="rows per insert")
    prediction_log_flush_seconds: float = Field(
        default=1.0, gt=0, description="longest a logged prediction waits before it is written"
    )
    prediction_log_retention_days: int = Field(
        default=30, ge=0, description="delete logged predictions older than this; 0: keep all"
    )
    ab_test_min_samples: int = Field(
        default=100, ge=1, description="labelled predictions per variant before a verdict"
    )
    ab_test_alpha: float = Field(default=0.05, gt=0, lt=1, description="significance level")
    # Deployment rollouts: canary evaluation and shadow traffic.
    canary_evaluation_seconds: float = Field(
        default=2.0, ge=0, description="how often canaries are judged; 0: only by hand"
    )
    shadow_queue_size: int = Field(
        default=1000, ge=1, description="shadow copies waiting; beyond: dropped, counted"
    )

    # Rate limits (SPEC C10), in `limits` notation: "20/minute", "10/second;500/hour"; an
    # empty string switches that one rule off. Tiers: global (whole process), ip (client
    # address), tenant, key (the API key, else the user); classes: auth (login/refresh),
    # predict, write (POST/PUT/PATCH/DELETE), read (GET); "all" counts every class.
    # Defaults only stop abuse: a person, a CI job or the serving benchmark never meets them.
    rate_limit_enabled: bool = Field(default=True, description="MAESTRO_RATE_LIMIT_ENABLED")
    rate_limit_redis_probe_seconds: float = Field(
        default=5.0, description="while Redis is down, how often to try it again"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDRs of reverse proxies whose X-Forwarded-For names the client IP",
    )
    rate_limit_global_all: str = Field(default="1200000/minute", description="whole process")
    rate_limit_global_auth: str = Field(default="6000/minute", description="all logins")
    rate_limit_ip_auth: str = Field(default="120/minute", description="login+refresh per IP")
    rate_limit_ip_predict: str = Field(default="600000/minute", description="per client IP")
    rate_limit_ip_write: str = Field(default="6000/minute", description="per client IP")
    rate_limit_ip_read: str = Field(default="12000/minute", description="per client IP")
    rate_limit_tenant_predict: str = Field(default="600000/minute", description="per tenant")
    rate_limit_tenant_write: str = Field(default="30000/minute", description="per tenant")
    rate_limit_tenant_read: str = Field(default="60000/minute", description="per tenant")
    rate_limit_key_predict: str = Field(default="300000/minute", description="per key/user")
    rate_limit_key_write: str = Field(default="6000/minute", description="per key/user")
    rate_limit_key_read: str = Field(default="12000/minute", description="per key/user")
    rate_limit_login_account: str = Field(
        default="10/minute", description="login attempts per account (normalised email)"
    )
    rate_limit_login_ip: str = Field(default="30/minute", description="login attempts per IP")
    # SLOs: request records, objectives and the burn-rate alert policy (domain/slo.py).
    slo_enabled: bool = Field(default=True, description="record requests for the SLOs")
    slo_flush_seconds: float = Field(
        default=5.0, gt=0, description="how often request counts are written to the database"
    )
    slo_window_days: int = Field(
        default=30, ge=1, le=365, description="SLO window; request records are kept this long"
    )
    slo_api_availability_objective: float = Field(default=0.999, gt=0, lt=1)
    slo_api_latency_objective: float = Field(default=0.99, gt=0, lt=1)
    slo_api_latency_threshold_seconds: float = Field(default=0.5, gt=0)
    slo_deployment_availability_objective: float = Field(default=0.999, gt=0, lt=1)
    slo_deployment_latency_objective: float = Field(default=0.99, gt=0, lt=1)
    slo_deployment_latency_threshold_seconds: float = Field(
        default=0.1, gt=0, description="default; each deployment may override it"
    )

    # Observability: Prometheus metrics, OpenTelemetry traces, structured logs.
    metrics_enabled: bool = Field(default=True, description="collect and serve /metrics")
    metrics_port: int | None = Field(
        default=None, description="also serve /metrics WITHOUT authentication on this port "
        "(bind it to a private interface); unset: /metrics on the API port needs system:metrics",
    )
    metrics_host: str = Field(default="127.0.0.1", description="bind address of metrics_port")
    metrics_latency_buckets: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                 1.0, 2.5, 5.0, 10.0],
        description="latency histogram bucket edges in seconds (comma-separated)",
    )
    metrics_business_cache_seconds: float = Field(
        default=5.0, description="how long the database counts behind the business gauges live"
    )
    tracing_exporter: Literal["none", "otlp", "console"] | None = Field(
        default=None, validation_alias=AliasChoices(
            "tracing_exporter", "MAESTRO_TRACING_EXPORTER", "OTEL_TRACES_EXPORTER"),
        description="span exporter; 'otlp' reads the standard OTEL_EXPORTER_OTLP_* variables; "
        "unset or 'none': no spans are recorded (trace ids still flow through logs/headers)",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="'auto': text when stderr is a terminal, else JSON lines"
    )
    log_level: str = Field(default="INFO", description="root log level")

    @field_validator(
        "allowed_hosts", "cors_origins", "jwt_previous_secrets", "metrics_latency_buckets",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def resolved_allowed_hosts(self) -> list[str]:
        """The configured hosts, or the loopback names plus this server's own host names."""
        if self.allowed_hosts:
            return [host.lower() for host in self.allowed_hosts]
        hosts = ["localhost", "127.0.0.1", "[::1]"]
        if self.public_url:
            public = urlsplit(self.public_url).hostname
            if public:
                hosts.append(f"[{public}]" if ":" in public else public)
        if self.host not in ("0.0.0.0", "::", ""):  # noqa: S104 - wildcard binds name no host
            hosts.append(f"[{self.host}]" if ":" in self.host else self.host)
        return list(dict.fromkeys(host.lower() for host in hosts))

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment == "production":
            if self.secret_key is None or len(self.secret_key.get_secret_value()) < 32:
                raise ValueError(
                    "MAESTRO_SECRET_KEY must be set to at least 32 characters in production"
                )
            if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value()) < 32:
                raise ValueError("MAESTRO_JWT_SECRET must be at least 32 characters in production")
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
