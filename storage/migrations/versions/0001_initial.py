"""Initial schema: studies, objectives, trials.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("budget", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "objectives",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("ref", sa.Float, nullable=True),
        sa.UniqueConstraint("study_id", "idx"),
        sa.UniqueConstraint("study_id", "name"),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("params_json", sa.Text, nullable=False),
        sa.Column("values_json", sa.Text, nullable=True),
        sa.Column("metrics_json", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("retry_of", sa.Integer, nullable=True),
        sa.Column("requeued", sa.Boolean, nullable=False),
        sa.Column("worker_id", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("is_pareto", sa.Boolean, nullable=False),
        sa.Column("feasible", sa.Boolean, nullable=False),
        sa.UniqueConstraint("study_id", "number", name="uq_trial_number"),
    )
    op.create_index("ix_trials_study_state", "trials", ["study_id", "state", "number"])
    op.create_index("ix_trials_study_id", "trials", ["study_id", "id"])
    op.create_index("ix_trials_study_pareto", "trials", ["study_id", "is_pareto"])
    op.create_index("ix_trials_study_requeued", "trials", ["study_id", "requeued"])


def downgrade() -> None:
    op.drop_table("trials")
    op.drop_table("objectives")
    op.drop_table("studies")
