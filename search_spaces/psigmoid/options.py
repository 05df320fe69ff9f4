"""Options of the ``psigmoid`` space, validated with pydantic before anything is loaded or written.

===================  ===========================================================  =========
option               meaning                                                      default
===================  ===========================================================  =========
``budget``           encoder FLOPs as a fraction of the unreduced encoder's       ``0.5``
``max_length``       tokens per article (8..512; MiniLM-L6 has 512 positions)     ``64``
``seed``             data split, fine-tune and evaluation-subset seed             ``0``
``keep_leading``     tokens after ``[CLS]`` that are never dropped                ``0``
``finetune_epochs``  epochs of full fine-tuning (done once per seed, cached)      ``1.0``
``finetune_lr``      AdamW learning rate of that fine-tune                        ``1e-4``
``val_size``         validation articles each trial is scored on (null: all 445)  ``200``
``test_size``        test articles each trial reports (null: all 445; 0: none)    ``200``
===================  ===========================================================  =========
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from search_spaces.base import SpaceError
from search_spaces.tasks.text import MAX_POSITIONS


class PSigmoidOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    budget: float = Field(0.5, gt=0.0, le=1.0)
    max_length: int = Field(64, ge=8, le=MAX_POSITIONS)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    keep_leading: int = Field(0, ge=0)
    finetune_epochs: float = Field(1.0, gt=0.0, le=20.0)
    finetune_lr: float = Field(1e-4, gt=0.0, le=1.0)
    val_size: int | None = Field(200, ge=1)
    test_size: int | None = Field(200, ge=0)


HINTS = {
    "budget": "a fraction of the unreduced FLOPs in (0, 1], e.g. 0.5",
    "max_length": f"an integer from 8 to {MAX_POSITIONS} (MiniLM-L6's positions)",
    "keep_leading": "a non-negative integer below max_length",
}


def parse_options(raw: dict[str, Any]) -> PSigmoidOptions:
    """Validate raw options; every error names the option, the value and what is allowed."""
    data = {
        k: float(v) if k in ("budget", "finetune_epochs", "finetune_lr") and type(v) is int else v
        for k, v in raw.items()
    }
    try:
        opts = PSigmoidOptions(**data)
    except ValidationError as e:
        err = e.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "?"
        if err["type"] == "extra_forbidden":
            raise SpaceError(
                f"psigmoid: unknown option {key!r}; allowed: {', '.join(PSigmoidOptions.model_fields)}"
            ) from None
        hint = HINTS.get(key, err["msg"])
        raise SpaceError(f"psigmoid: option {key}={raw.get(key)!r} is invalid: {hint}") from None
    if opts.keep_leading >= opts.max_length:
        raise SpaceError(
            f"psigmoid: option keep_leading={opts.keep_leading} must be below max_length={opts.max_length}"
        )
    return opts
