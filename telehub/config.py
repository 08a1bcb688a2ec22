"""Settings from TELEHUB_* environment variables (and an optional telehub.toml)."""

from __future__ import annotations

import functools
import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import platformdirs
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from telehub.domain.clock import SERVICE_ZONE_NAME
from telehub.errors import ConfigError


class IngestSettings(BaseModel):
    """How the hub reads readings off the broker and writes them."""

    shared: bool = False                 # subscribe through $share/telehub-ingest/...
    client_id: str = "telehub-ingest-1"  # fixed per worker: the broker keeps its session
    # Readings per transaction; see bench/ingest.
    batch_max: int = Field(default=1000, ge=1, le=20_000)
    batch_wait_ms: int = Field(default=50, ge=1, le=5_000)  # how long a batch may wait to fill
    horizon_days: int = Field(default=30, ge=1)  # oldest store-and-forward reading accepted
    future_tolerance_s: int = 300        # device clocks up to 5 minutes fast are accepted
    max_payload_bytes: int = 2_000_000   # a 10,000-reading batch is ~1.2 MB
    max_batch_readings: int = 10_000
    rejected_payload_cap: int = 8_192    # bytes of a refused payload kept for diagnosis
    metrics_port: int = 9464             # Prometheus endpoint of the hub (0: off)
    inflight: int = 5_000                # MQTT receive maximum / max inflight


class AlertSettings(BaseModel):
    """Rule evaluation, notification and timers."""

    red_escalation_minutes: int = 15
    working_day_end: str = "17:00"       # amber not acknowledged by then escalates
    acute_freshness_hours: float = 6.0   # older readings raise a review, not an emergency
    notifier_interval_s: float = 0.2
    scheduler_interval_s: float = 60.0
    # Escalation checks between full passes: a 2-minute telecare window must not stretch to 3.
    escalation_interval_s: float = 10.0
    webhook_urls: list[str] = []
    webhook_secret: SecretStr | None = None
    # Per webhook request phase (connect, send, each read); a slow receiver delays only its
    # own deliveries.
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=120)


# Shortest retention an operator may set (docs/operations/retention.md). Readings: a
# quarter's trend is what a matron looks back over at a care-plan review (the rules look
# back days, not months); alerts/retention.py also refuses less than the rules' lookback.
# Rejected messages and delivery history: a week, so Monday still sees Friday's trouble.
MIN_READINGS_DAYS = 90
MIN_HISTORY_DAYS = 7


class RetentionSettings(BaseModel):
    """How long raw readings, rejected messages and delivery history are kept (None: for
    ever, the default). Alerts, alert events, care records and the audit log are never
    deleted by retention."""

    readings_days: int | None = Field(default=None, ge=MIN_READINGS_DAYS)
    rejected_days: int | None = Field(default=None, ge=MIN_HISTORY_DAYS)
    outbox_days: int | None = Field(default=None, ge=MIN_HISTORY_DAYS)
    # Rows per DELETE transaction, and per scheduler pass in all: each batch's row locks
    # are held for milliseconds, and a pass ends within a few seconds however far behind.
    batch_rows: int = Field(default=5_000, ge=1, le=50_000)
    max_rows_per_pass: int = Field(default=50_000, ge=1, le=1_000_000)


class ApiSettings(BaseModel):
    """The HTTP API."""

    host: str = "127.0.0.1"
    port: int = 8000
    token_hours: float = 12.0
    max_request_bytes: int = 2_000_000
    cors_origins: list[str] = []
    signin_attempts_per_minute: int = 10
    # Reverse proxies whose X-Forwarded-For/-Proto are believed (addresses or networks).
    # Empty: nobody's; a caller could otherwise pick the address that sign-in limits and the
    # audit log key on. The env var takes a comma-separated list or a JSON list.
    trusted_proxies: Annotated[list[str], NoDecode] = []

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # raises for anything but an address
        return value


class Settings(BaseSettings):
    """Every Telehub setting; each has a safe default for the demo."""

    model_config = SettingsConfigDict(
        env_prefix="TELEHUB_", env_nested_delimiter="__", toml_file="telehub.toml",
        extra="ignore",
    )

    database_url: str | None = None      # None: the demo starts an embedded PostgreSQL
    mqtt_url: str | None = None          # None: the demo starts an embedded broker
    api_url: str = "http://127.0.0.1:8000"
    # Where the dashboard listens: loopback unless an operator opens it (behind a reverse
    # proxy, see deploy/nginx); "0.0.0.0" would put it on every interface.
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8501
    timezone: str = SERVICE_ZONE_NAME    # for display; storage is always UTC
    topic_root: str = "telehub/v1"       # MQTT topic root (tests use their own)
    data_dir: Path = Field(default_factory=lambda: platformdirs.user_data_path("telehub"))
    db_pool_max: int = 10
    # Run the service this many seconds ahead of the machine's clock (negative: behind), for
    # a rehearsal or a test at another hour or on a clock-change day; every process of one
    # service must share it. 0 in production.
    clock_offset_s: float = 0.0
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _valid_mqtt_url(cls, value: str | None) -> str | None:
        if value is not None:
            parse_mqtt_url(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls),
                file_secret_settings)

    @property
    def zone(self) -> ZoneInfo:
        """The display timezone."""
        return ZoneInfo(self.timezone)

    @property
    def dashboard_address(self) -> tuple[str, int]:
        """Where a process on this machine reaches the dashboard (loopback for a wildcard)."""
        wildcard = self.dashboard_host in ("", "0.0.0.0", "::")  # noqa: S104 (recognised, not bound)
        return ("127.0.0.1" if wildcard else self.dashboard_host), self.dashboard_port

    @property
    def dashboard_url(self) -> str:
        """The dashboard's URL as a browser on this machine opens it."""
        host, port = self.dashboard_address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def require_database_url(self) -> str:
        """The database URL, or a ConfigError that says how to set it."""
        if not self.database_url:
            raise ConfigError("TELEHUB_DATABASE_URL is not set (e.g. postgresql://user@host/db).")
        return self.database_url

    def require_mqtt(self) -> MqttEndpoint:
        """The broker endpoint, or a ConfigError that says how to set it."""
        if not self.mqtt_url:
            raise ConfigError("TELEHUB_MQTT_URL is not set (e.g. mqtt://user:pass@host:1883).")
        return parse_mqtt_url(self.mqtt_url)


class MqttEndpoint(BaseModel):
    """Where the broker is and how to sign in to it."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    ca_file: str | None = None

    def url(self, *, with_password: bool = False) -> str:
        """The endpoint as a URL; the password only when asked for."""
        scheme = "mqtts" if self.tls else "mqtt"
        auth = ""
        if self.username:
            secret = self.password.get_secret_value() if self.password else ""
            auth = f"{self.username}:{secret if with_password else '***'}@"
        return f"{scheme}://{auth}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """Parse mqtt://user:pass@host:port or mqtts://… (TLS, default port 8883)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ConfigError(f"MQTT URL must start with mqtt:// or mqtts://, not '{parts.scheme}://'.")
    tls = parts.scheme in ("mqtts", "ssl")
    if not parts.hostname:
        raise ConfigError("MQTT URL has no host.")
    from urllib.parse import parse_qs

    query = parse_qs(parts.query)
    return MqttEndpoint(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=SecretStr(unquote(parts.password)) if parts.password else None,
        ca_file=query.get("ca", [None])[0],
    )


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once (tests call `get_settings.cache_clear()`)."""
    return Settings()
