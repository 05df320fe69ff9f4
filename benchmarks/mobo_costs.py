"""What ``mobo``'s analytic path saves per call, against the BoTorch/gpytorch calls it
replaces, on the same fitted model. Not a test.

On the README's ``custom`` space (log float, int, categorical; two objectives), a random
history of 100 observations (seed 0), one torch thread:

- the GP's training loss with its gradient: BoTorch's loss closure (gpytorch) against
  :func:`nas.optimizers._dense_gp.neg_mll` (with its pairwise terms precomputed, as a fit
  does), median of 30 calls each;
- scoring candidates: qLogNEHVI (64 MC samples, the observed inputs as baseline, as
  ``mobo`` builds it) on 128 candidates against the analytic log EHVI on 1 024, per
  candidate, median of 5 calls each.

    .venv/bin/python -m benchmarks.mobo_costs   # writes benchmarks/results/mobo-costs.json
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).parent / "results" / "mobo-costs.json"


def _median_s(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up, untimed
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    from botorch.optim.closures.model_closures import get_loss_closure
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from benchmarks.optimizers import make_bench, random_history
    from nas.optimizers import _acqf, _analytic, _dense_gp, _ehvi, _gp
    from nas.optimizers._encode import categorical_dims
    from nas.optimizers._search import sample
    from nas.optimizers.base import Problem
    from nas.optimizers.mobo import training_data
    from nas.trial import Trial, TrialState

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    bench = make_bench("custom")
    configs, rows = random_history(bench, 100, 0)
    names = [o.name for o in bench.objectives]
    history = [Trial(id=i, number=i, state=TrialState.COMPLETE, params=c, values=dict(zip(names, y, strict=True)))
               for i, (c, y) in enumerate(zip(configs, rows, strict=True))]
    data = training_data(Problem(bench.params, bench.objectives), history)
    model, _ = _gp.fit_output(data.X, data.Y, sorted(categorical_dims(bench.params)), len(data.X),
                              _gp.HyperparameterCache(), 200, 20, fast_loss=True)

    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    closure = get_loss_closure(mll)
    P = _dense_gp.pairwise(model.covar_module, _dense_gp.training_inputs(model))
    loss_gpytorch = _median_s(lambda: closure().sum().backward(), 30)
    loss_dense = _median_s(lambda: _dense_gp.neg_mll(model, P).sum().backward(), 30)
    model.eval()

    domain = _acqf.make_domain(bench.params)
    ref = torch.tensor([0.0, -40.0], dtype=torch.double)  # the problem's reference point, maximised
    caps = _acqf.objective_caps(data.Y[:, :2], 0.0)
    nehvi = _acqf.nehvi(model, data.X, ref, 2, [], None, 64, 0, caps)
    lower, upper = _ehvi.improvement_boxes(data.Y[:, :2], ref, caps[0] + caps[1])
    score = _ehvi.make_log_ehvi(_analytic.predict_all(model, data.X[:0]), 2, lower, upper, [])
    torch.manual_seed(0)
    X128, X1024 = sample(domain, 128), sample(domain, 1024)
    with torch.no_grad():
        per_nehvi = _median_s(lambda: nehvi(X128.unsqueeze(1)), 5) / 128
        per_analytic = _median_s(lambda: score(X1024), 5) / 1024
    out = {
        "setting": "custom space, 100 random observations (seed 0), one torch thread",
        "loss_eval_ms": {"gpytorch": loss_gpytorch * 1e3, "dense": loss_dense * 1e3,
                         "ratio": loss_dense / loss_gpytorch},
        "score_ms_per_candidate": {"qLogNEHVI_128": per_nehvi * 1e3, "analytic_1024": per_analytic * 1e3,
                                   "boxes": len(lower), "ratio": per_analytic / per_nehvi},
    }
    OUT.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
