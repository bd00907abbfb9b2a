"""Artifacts (stored objects produced by jobs) and their key/value metadata."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stratlogic.models.base import Base, BigId, JsonDocument, created_at_column, id_column

if TYPE_CHECKING:
    from stratlogic.models.job import ScrapingJob


class Artifact(Base):
    """One object in the artifact store (bucket + key), with its size and sha256."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("bucket", "object_key"),
        CheckConstraint("size_bytes >= 0", name="size_non_negative"),
        CheckConstraint("length(sha256) = 64", name="sha256_length"),
        Index("ix_artifacts_job_id_sha256", "job_id", "sha256"),
        Index("ix_artifacts_created_at", "created_at"),
        Index("ix_artifacts_created_at_id", "created_at", "id"),  # newest-first keyset pages
    )

    id: Mapped[int] = id_column()
    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("scraping_jobs.id", ondelete="CASCADE"))
    bucket: Mapped[str] = mapped_column(String(63))
    object_key: Mapped[str] = mapped_column(String(1024))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()

    job: Mapped[ScrapingJob] = relationship(back_populates="artifacts")
    entries: Mapped[list[ArtifactMetadata]] = relationship(back_populates="artifact",
                                                           cascade="all, delete-orphan",
                                                           passive_deletes=True)


class ArtifactMetadata(Base):
    """One metadata key of an artifact with a typed (JSON) value; a key appears once per artifact."""

    __tablename__ = "artifact_metadata"
    __table_args__ = (
        UniqueConstraint("artifact_id", "key"),
        Index("ix_artifact_metadata_key", "key"),
    )

    id: Mapped[int] = id_column()
    artifact_id: Mapped[int] = mapped_column(BigId, ForeignKey("artifacts.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[Any] = mapped_column(JsonDocument)

    artifact: Mapped[Artifact] = relationship(back_populates="entries")
