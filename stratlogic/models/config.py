"""System configuration: typed values by key, with who changed them last."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stratlogic.models.base import Base, BigId, JsonDocument, created_at_column, updated_at_column

if TYPE_CHECKING:
    from stratlogic.models.user import User


class SystemConfig(Base):
    """One configuration entry. ``is_secret`` values are masked wherever entries are listed."""

    __tablename__ = "system_config"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JsonDocument)
    description: Mapped[str | None] = mapped_column(String(500))
    is_secret: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    updated_by: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<SystemConfig {self.key!r}>"
