"""Users: who owns jobs, who changes configuration, who acts in the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, String, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stratlogic.models.base import Base, UTCDateTime, created_at_column, enum_column, id_column, updated_at_column
from stratlogic.models.enums import UserRole

if TYPE_CHECKING:
    from stratlogic.models.audit import AuditLog
    from stratlogic.models.job import ScrapingJob


class User(Base):
    """A person (or service account) with a role.

    Usernames and emails are case-insensitive: they are stored lower-cased (a CHECK enforces it), so a
    plain unique constraint is enough on both engines. A user who owns jobs or appears in the audit
    trail cannot be deleted, only deactivated.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("username = lower(username)", name="username_lowercase"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint("length(username) >= 3", name="username_length"),
    )

    id: Mapped[int] = id_column()
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[UserRole] = enum_column(UserRole, "role", default=UserRole.VIEWER,
                                         server_default=UserRole.VIEWER.value)
    #: argon2id hash; NULL means the user has no usable password and cannot log in.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    is_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    jobs: Mapped[list[ScrapingJob]] = relationship(back_populates="owner", passive_deletes="all")
    audit_logs: Mapped[list[AuditLog]] = relationship(back_populates="actor", viewonly=True)
