"""Reads every row fitsbak wrote for processing sessions through the cataloger's
SQLAlchemy models (their columns and types as s3_backup/models.py declares them),
and prints them as JSON. Fails if a value does not load as its declared type."""

import json
import sys
from datetime import datetime

from sqlalchemy import Boolean, Column, DateTime, Integer, String, create_engine
from sqlalchemy.orm import Session, declarative_base

Base = declarative_base()


class S3BackupProcessingSession(Base):
    __tablename__ = "s3_backup_processing_sessions"
    id = Column(Integer, primary_key=True, autoincrement=True)
    processing_session_id = Column(String(50), unique=True, nullable=False, index=True)
    s3_bucket = Column(String(255), nullable=False)
    s3_key = Column(String(500), nullable=False)
    s3_region = Column(String(50), nullable=False)
    s3_etag = Column(String(100))
    uploaded_at = Column(DateTime)
    file_size_bytes = Column(Integer)
    archive_policy = Column(String(20))
    backup_policy = Column(String(20))
    current_storage_class = Column(String(50))


class S3BackupProcessedFileRecord(Base):
    __tablename__ = "s3_backup_processed_file_records"
    id = Column(Integer, primary_key=True, autoincrement=True)
    processed_file_id = Column(Integer, nullable=False, unique=True)
    processing_session_id = Column(String(50), nullable=False)
    s3_bucket = Column(String(255), nullable=False)
    s3_key = Column(String(500), nullable=False, unique=True)
    s3_region = Column(String(50), nullable=False)
    s3_etag = Column(String(100))
    file_size = Column(Integer)
    md5sum = Column(String(32))
    uploaded_at = Column(DateTime)
    storage_class = Column(String(50))
    verified = Column(Boolean)
    verified_at = Column(DateTime)
    notes = Column(String(500))


class S3BackupProcessingSessionSummary(Base):
    __tablename__ = "s3_backup_processing_session_summary"
    processing_session_id = Column(String(50), primary_key=True)
    total_files = Column(Integer)
    backed_up_files = Column(Integer)
    total_size_bytes = Column(Integer)
    first_backup_at = Column(DateTime)
    last_backup_at = Column(DateTime)
    last_verified_at = Column(DateTime)
    backup_complete = Column(Boolean)
    all_verified = Column(Boolean)
    s3_bucket = Column(String(255))
    s3_prefix = Column(String(500))


def plain(row):
    out = {}
    for column in row.__table__.columns:
        value = getattr(row, column.name)
        kind = column.type.python_type
        if value is not None and not isinstance(value, kind):
            raise SystemExit(f"{row.__tablename__}.{column.name}: {value!r} is not a {kind.__name__}")
        out[column.name] = value.isoformat() if isinstance(value, datetime) else value
    return out


engine = create_engine(f"sqlite:///{sys.argv[1]}")
with Session(engine) as session:
    print(json.dumps({
        model.__tablename__: [plain(r) for r in session.query(model).all()]
        for model in (S3BackupProcessingSession, S3BackupProcessedFileRecord,
                      S3BackupProcessingSessionSummary)
    }))
