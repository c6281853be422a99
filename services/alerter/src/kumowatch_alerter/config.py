"""The alerter's settings (environment variables; see the service README)."""

from __future__ import annotations

from pydantic import Field

from kumowatch_common.settings import ServiceSettings


class Settings(ServiceSettings):
    """``ALERTER_*`` plus the shared ``ServiceSettings``."""

    alerter_port: int = Field(default=3003, ge=0, le=65535, description="health/metrics port")
    alerter_eval_interval: float = Field(
        default=1.0, gt=0, le=60, description="seconds between timer evaluations"
    )
    alerter_nodata_seconds: float = Field(
        default=30.0, gt=0, description="a node silent this long is unreachable (NoData)"
    )
    alerter_series_grace_seconds: float = Field(
        default=60.0, ge=0, description="a firing series that disappears resolves after this"
    )
    alerter_republish_seconds: float = Field(
        default=600.0,
        ge=0,
        description="restored alerts younger than this re-publish their firing event (deduped)",
    )

    @property
    def max_window_ms(self) -> int:
        """The longest rule window: what the snapshot stream keeps."""
        return int(self.snapshot_retention_seconds * 1000)
