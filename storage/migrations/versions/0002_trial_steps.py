"""Per-step reports of trials (multi-fidelity): the ``trial_steps`` table.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trial_steps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("values_json", sa.Text, nullable=False),
        sa.Column("decision", sa.String(10), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("trial_id", "step", name="uq_trial_step"),
    )
    op.create_index("ix_trial_steps_study_step", "trial_steps", ["study_id", "step", "id"])


def downgrade() -> None:
    op.drop_index("ix_trial_steps_study_step", "trial_steps")
    op.drop_table("trial_steps")
