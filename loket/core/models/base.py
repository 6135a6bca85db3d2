"""The declarative base, the column types every model uses, and the naming convention."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, mapped_column


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("loket stores aware datetimes only")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
money = Annotated[int, mapped_column(BigInteger, nullable=False, default=0)]
timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime)]
currency = Annotated[str, mapped_column(String(3), nullable=False)]
tenant_fk = Annotated[int, mapped_column(ForeignKey("tenants.id"), nullable=False, index=True)]
tenant_key = Annotated[int, mapped_column(ForeignKey("tenants.id"), nullable=False)]
"""A tenant's rows in a table whose unique key or other index leads with ``tenant_id``,
which serves the tenant's lookups: a second index of the column would only cost writes."""

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
