"""audit events are found by request id

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 17:00:00

Every response carries its ``X-Request-ID``, and the audit API filters on it: the index
keeps that look-up to the tenant's events of that request.
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_audit_events_request', 'audit_events', ['tenant_id', 'request_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_audit_events_request', table_name='audit_events')
