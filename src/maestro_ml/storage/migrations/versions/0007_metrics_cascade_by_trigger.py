"""metrics follow their run by a trigger on PostgreSQL

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 12:00:00

On PostgreSQL a foreign key checks every inserted row with a locking look-up of the
parent: for a 1000-metric batch into one run that is 1000 locks of the same run row, about
half the insert's time. The key on ``metrics.run_id`` is replaced by what it provided:

- no metric without its run: every statement that inserts metrics first takes the run row
  ``FOR KEY SHARE`` (the lock the key's check takes) in the same transaction, and inserts
  nothing if the run is not there (``storage/repositories/run_appends.py``);
- a deleted run takes its metrics with it: an ``AFTER DELETE`` statement trigger on ``runs``
  deletes the metrics of the deleted rows, whatever deleted them (an experiment's or a
  tenant's cascade included). A delete waits for the run's ``FOR KEY SHARE`` holders, so
  metrics committed just before it are deleted with it.

SQLite keeps the foreign key: its check is an index probe in process, and SQLite has one
writer at a time.
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

FOREIGN_KEY = 'fk_metrics_run_id_runs'


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_constraint(FOREIGN_KEY, 'metrics', type_='foreignkey')
    op.execute(
        """
        CREATE FUNCTION maestro_delete_metrics_of_deleted_runs() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM metrics WHERE run_id IN (SELECT id FROM deleted_runs);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER runs_delete_metrics AFTER DELETE ON runs
        REFERENCING OLD TABLE AS deleted_runs
        FOR EACH STATEMENT EXECUTE FUNCTION maestro_delete_metrics_of_deleted_runs()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP TRIGGER runs_delete_metrics ON runs')
    op.execute('DROP FUNCTION maestro_delete_metrics_of_deleted_runs()')
    op.execute('DELETE FROM metrics WHERE run_id NOT IN (SELECT id FROM runs)')
    op.create_foreign_key(
        FOREIGN_KEY, 'metrics', 'runs', ['run_id'], ['id'], ondelete='CASCADE'
    )
