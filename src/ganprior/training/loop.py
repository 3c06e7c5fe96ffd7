"""What every resumable training run shares: the step loop with its limits, periodic checkpoints,
and the CSV log that a resumed run cuts back to its checkpoint.

A run (``Trainer`` for a prior, ``EncoderTrainer`` for an encoder) subclasses ``TrainingLoop`` and
provides ``train_step() -> stats`` and ``save()``; its ``config`` has ``batch``, ``log_every`` and
``checkpoint_every``, and it keeps ``run_dir``, ``step`` and ``seconds`` (training time over all
sessions). Because a checkpoint holds every random state, a resumed run continues exactly as an
uninterrupted one would; the log rows written after the checkpoint are dropped on resume, since
those steps are trained again.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Callable


class TrainingLoop:
    """The loop and the log of a resumable run (see the module docstring)."""

    run_dir: Path
    step: int = 0
    seconds: float = 0.0
    # the log's columns (a new log.csv gets these; an existing one keeps its own header)
    log_fields: list[str] = ["step", "seconds", "images_per_s"]

    def train_step(self) -> dict:
        """One optimisation step; returns its scalar statistics (the log's other columns)."""
        raise NotImplementedError

    def save(self) -> None:
        """Write the checkpoint (atomically) and whatever the run exports."""
        raise NotImplementedError

    def train(self, steps: int, minutes: float | None = None,
              on_step: Callable[[int, dict], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> str:
        """Train until ``steps`` total steps, ``minutes`` of wall time, or ``should_stop()``.

        Checkpoints every ``checkpoint_every`` steps and at the end. Returns why it stopped:
        ``steps``, ``time`` or ``signal``.
        """
        c = self.config
        deadline = None if minutes is None else time.monotonic() + minutes * 60
        window_t, window_n, acc = time.monotonic(), 0, {}
        reason = "steps"
        while self.step < steps:
            if should_stop is not None and should_stop():
                reason = "signal"
                break
            if deadline is not None and time.monotonic() >= deadline:
                reason = "time"
                break
            t0 = time.monotonic()
            stats = self.train_step()
            self.seconds += time.monotonic() - t0
            window_n += 1
            for k, v in stats.items():
                acc[k] = acc.get(k, 0.0) + v
            if on_step is not None:
                on_step(self.step, stats)
            if self.step % c.log_every == 0:
                dt = time.monotonic() - window_t
                row = {"step": self.step, "seconds": round(self.seconds, 1),
                       "images_per_s": round(window_n * c.batch / max(dt, 1e-9), 2)}
                row.update({k: round(v / window_n, 5) for k, v in acc.items()})
                self._append_log(row)
                window_t, window_n, acc = time.monotonic(), 0, {}
            if self.step % c.checkpoint_every == 0:
                self.save()
        if self.step % c.checkpoint_every != 0 or self.step == 0:
            self.save()
        return reason

    def _append_log(self, row: dict) -> None:
        path = self.run_dir / "log.csv"
        new = not path.exists()
        # a run logged before a column existed keeps its header
        fields = self.log_fields if new else log_header(path, self.log_fields)
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    def _truncate_log(self) -> None:
        """Drop log rows after the checkpointed step (they will be trained again)."""
        path = self.run_dir / "log.csv"
        if not path.exists():
            return
        fields = log_header(path, self.log_fields)
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)


def next_indices(perm, cursor: int, batch: int, rng):
    """The next ``batch`` indices of a shuffled pass over ``len(perm)`` images: ``(perm, cursor,
    indices)``, reshuffled with ``rng`` when the pass has fewer than ``batch`` left."""
    import torch
    if cursor + batch > len(perm):
        perm, cursor = torch.randperm(len(perm), generator=rng), 0
    return perm, cursor + batch, perm[cursor:cursor + batch]


def read_run_json(run_dir, what: str) -> dict:
    """The ``config.json`` of a run folder as a dict; a missing or malformed one is a one-line
    error (``what``: the kind of run, for the message)."""
    import json
    from ..errors import GanpriorError
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise GanpriorError(f"{run_dir} is not {what} (no config.json)")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise GanpriorError(f"{path} is not {what}'s configuration ({type(e).__name__})") from None


def read_checkpoint(path: Path, fmt: str, what: str) -> dict:
    """The state dict of a run's checkpoint file, checked to be of format ``fmt``; a missing,
    damaged or foreign file is a one-line error (``what``: the kind of run, for the message)."""
    import torch
    from ..errors import GanpriorError
    if not path.is_file():
        raise GanpriorError(f"nothing to resume: {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged file is a user-facing error
        raise GanpriorError(f"cannot read checkpoint {path}: {type(e).__name__}") from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise GanpriorError(f"{path} is not a ganprior {what} checkpoint")
    return state


def log_header(path: Path, default: list[str]) -> list[str]:
    """The columns of an existing log (``default`` for an empty file)."""
    with open(path, newline="") as f:
        return next(csv.reader(f), None) or default
