"""The ``autopeft`` search space: which PEFT modules, how large, and in which layers.

After AutoPEFT (Zhou et al., TACL 2024), on the pretrained MiniLM-L6 and BBC News topics.
Parameters: ``insert.<i>`` (``Categorical(False, True)``: does layer ``i`` get the modules)
for each searchable layer, then ``serial``, ``parallel`` and ``prefix`` (one ``Categorical``
size ladder each, 0 = off) for each searched module. A configuration that inserts nothing
is refused before any training. The encoder stays frozen; the inserted modules and a linear
head on ``[CLS]`` train for a short fixed budget (options ``epochs``, ``lr``, ``max_length``).

Objectives: ``accuracy`` on the validation split (max) and ``trainable_pct``, the trained
parameters (modules and head) as a percentage of the encoder's (min). Test accuracy is in
the metrics. Each whole epoch reports validation accuracy through ``ctx.step``.
"""

from __future__ import annotations

import json
from typing import Any

from search_spaces.autopeft.modules import PeftChoice, insert, parameter_count
from search_spaces.autopeft.options import AutopeftOptions, encoder_layers, parse_options
from search_spaces.autopeft.trial import Score, fit_and_score
from search_spaces.base import EvalContext, Evaluation, Objective, SearchSpace, SpaceError, register_space
from search_spaces.params import Categorical, Param, ParamError, validate_config
from search_spaces.tasks.text import TextTask, bbc_minilm, load_minilm, minilm_dir
from search_spaces.tasks.textclf import TrainSettings, trainable_parameters
from search_spaces.tasks.threads import torch_threads


@register_space("autopeft")
class AutopeftSpace(SearchSpace):
    summary = "AutoPEFT: serial/parallel adapter sizes, prefix length and layers on MiniLM-L6 (BBC News)"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.n_layers = encoder_layers()
        self.settings: AutopeftOptions = parse_options(self.options, self.n_layers)
        self.encoder_config: dict[str, Any] = json.loads((minilm_dir() / "config.json").read_text())
        self._task: TextTask | None = None

    # -- the interface -------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Param]:
        out: dict[str, Param] = {f"insert.{i}": Categorical((False, True)) for i in self.settings.layers}
        out.update({m: Categorical(self.settings.sizes[m]) for m in self.settings.modules})
        return out

    @property
    def objectives(self) -> list[Objective]:
        return [
            Objective(
                "accuracy",
                "max",
                0.0,
                "top-1 accuracy on the validation split after the short "
                "fine-tuning budget (test accuracy is in the metrics)",
            ),
            Objective(
                "trainable_pct",
                "min",
                1.1 * self.largest_pct(),
                "trained parameters (inserted modules and head) as % of the encoder's",
            ),
        ]

    def evaluate(self, config: dict[str, Any], ctx: EvalContext) -> Evaluation:
        choice = self.choice_of(config)
        with torch_threads(self.settings.threads):
            model = self.build(choice)
            pct = self.percent(trainable_parameters(model))
            score = fit_and_score(
                model,
                self.task,
                self.train_settings(),
                lambda epoch, acc: ctx.step(epoch, {"accuracy": acc, "trainable_pct": pct}),
            )
        return Evaluation(
            {"accuracy": score.val_accuracy, "trainable_pct": pct},
            self.metrics(choice, score),
            {
                "modules": {
                    "serial": choice.serial,
                    "parallel": choice.parallel,
                    "prefix": choice.prefix,
                    "layers": list(choice.layers),
                }
            },
        )

    # -- helpers the tests and the benchmark use -----------------------------------------
    @property
    def task(self) -> TextTask:
        """BBC News tokenised at ``max_length`` and split by ``seed`` (cached on disk)."""
        if self._task is None:
            self._task = bbc_minilm(self.settings.max_length, self.settings.seed)
        return self._task

    @property
    def hidden(self) -> int:
        return int(self.encoder_config["hidden_size"])

    @property
    def encoder_parameters(self) -> int:
        """Parameters of the pretrained ``BertModel`` (embeddings, layers, pooler)."""
        return bert_parameters(self.encoder_config)

    def head_parameters(self, classes: int = 5) -> int:
        return self.hidden * classes + classes

    def percent(self, trainable: int) -> float:
        return 100.0 * trainable / self.encoder_parameters

    def largest_pct(self) -> float:
        """``trainable_pct`` of the largest configuration the space allows."""
        s = self.settings
        top = PeftChoice(*(max(s.sizes.get(m, (0,))) for m in ("serial", "parallel", "prefix")), layers=s.layers)
        return self.percent(parameter_count(top, self.hidden) + self.head_parameters())

    def train_settings(self) -> TrainSettings:
        s = self.settings
        return TrainSettings(epochs=s.epochs, lr=s.lr, batch_size=s.batch_size, seed=s.seed)

    def choice_of(self, config: dict[str, Any]) -> PeftChoice:
        """The modules a configuration inserts; refuses bad values and an empty insertion."""
        try:
            clean = validate_config(self.params, config)
        except ParamError as e:
            raise SpaceError(f"autopeft: bad configuration: {e}; the ladders are {self.settings.sizes}") from None
        layers = tuple(i for i in self.settings.layers if clean[f"insert.{i}"])
        choice = PeftChoice(*(int(clean.get(m, 0)) for m in ("serial", "parallel", "prefix")), layers=layers)
        if choice.empty:
            raise SpaceError(
                f"autopeft: the configuration inserts nothing ({choice.describe()}); switch on at "
                "least one insert.<layer> and give serial, parallel or prefix a size above 0"
            )
        return choice

    def config_of(self, choice: PeftChoice) -> dict[str, Any]:
        """The configuration of ``choice`` (its sizes must be on the ladders)."""
        config: dict[str, Any] = {f"insert.{i}": i in choice.layers for i in self.settings.layers}
        config.update({m: getattr(choice, m) for m in self.settings.modules})
        return config

    def build(self, choice: PeftChoice) -> Any:
        """A fresh MiniLM with ``choice``'s modules inserted and a new head (seeded init)."""
        import torch

        from search_spaces.tasks.textclf import EncoderClassifier

        torch.manual_seed(self.settings.seed)
        encoder = insert(load_minilm(), choice)
        return EncoderClassifier(encoder, len(self.task.classes))

    def metrics(self, choice: PeftChoice, score: Score) -> dict[str, Any]:
        return {
            "test_accuracy": score.test_accuracy,
            "trainable_params": score.trainable,
            "inserted_params": score.trainable - self.head_parameters(len(self.task.classes)),
            "layers_used": len(choice.layers),
            "steps": score.steps,
            "train_s": score.train_s,
            "score_s": score.score_s,
        }


def bert_parameters(cfg: dict[str, Any]) -> int:
    """Parameters of a ``BertModel`` with a pooler, from its ``config.json`` values."""
    h, inter, n = int(cfg["hidden_size"]), int(cfg["intermediate_size"]), int(cfg["num_hidden_layers"])
    embeddings = (int(cfg["vocab_size"]) + int(cfg["max_position_embeddings"]) + int(cfg.get("type_vocab_size", 2))) * h
    layer = 4 * (h * h + h) + 2 * h * inter + inter + h + 4 * h  # q, k, v, out; FFN; two LayerNorms
    return embeddings + 2 * h + n * layer + h * h + h  # embedding LayerNorm, layers, pooler
