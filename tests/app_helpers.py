"""Helpers shared by the web app's tests (tests/test_app.py) and its fuzz cases (tests/fuzz/test_fuzz_app.py):
calling the page's event functions as Gradio's server does, and watching what a run is handed."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import torch

from ganprior.errors import GanpriorError

STOPPED = "stopped by the test"


def detailed(h: int = 48, w: int = 40, seed: int = 0) -> np.ndarray:
    """Noise in every channel: the picture a lossy codec changes most."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def as_tensor(a: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> the (3, H, W) float tensor in [0, 1] a run is handed."""
    return torch.from_numpy(a.astype(np.float32) / 255.0).permute(2, 0, 1)


class LoadSpy:
    """Stands in for ``Pipeline.load`` (installed with ``monkeypatch``): records the image tensor
    (and the mask) each run was handed, then stops the run with a one-line error."""

    def __init__(self):
        self.seen: list[torch.Tensor] = []
        self.masks: list[torch.Tensor | None] = []

    def __get__(self, obj, owner=None):
        return self

    def __call__(self, x, *args, mask=None, **kwargs):
        self.seen.append(x.detach().clone())
        self.masks.append(None if mask is None else mask.detach().clone())
        raise GanpriorError(STOPPED)


def file_data(path) -> dict:
    """The payload the browser sends for a file the user gave."""
    return {"path": str(path), "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}


def page_call(page, name: str, inputs: list, state) -> list:
    """Run the page's event function ``name`` as Gradio's server does (preprocessing, the session's
    state, postprocessing) to the end of its stream: the outputs of every step."""
    fn = next(f for f in page.fns.values() if getattr(f.fn, "__name__", "") == name)

    async def go():
        outs = []
        out = await page.process_api(fn, inputs, state=state, request=None, session_hash="test")
        outs.append(out["data"])
        while out.get("is_generating"):
            out = await page.process_api(fn, inputs, state=state, request=None, session_hash="test",
                                         iterator=out["iterator"])
            if out["data"] and any(v is not None for v in out["data"]):  # the stream's end comes as Nones
                outs.append(out["data"])
        return outs
    return asyncio.run(go())


def browser_copy(sent: Path, fmt: str, folder: Path) -> Path:
    """What a browser's editor sends back for the picture it was sent: the decoded picture, encoded
    again as ``fmt`` (``png`` as the editor exports now, ``webp`` the lossy copy it used to send)."""
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    back = folder / f"background.{fmt}"
    Image.open(sent).convert("RGB").save(back, quality=80)
    return back


def start_long_run(editor, prior, out_root, slots, runs, session: str, *, codes: int = 4, wait_s: float = 60):
    """A restoration that runs until cancelled (the app's most steps), in a thread; returns (thread,
    updates) once it has taken a step."""
    from ganprior.app import handlers as h
    updates: list = []
    started = threading.Event()

    def go():
        for u in h.restore_stream(editor, "reconstruct", prior, "multi", codes, 1, h.limits.MAX_STEPS,
                                  session=session, out_root=out_root, runs=runs, perceptual=0, slots=slots):
            updates.append(u)
            if u.step >= 1:
                started.set()
        started.set()

    thread = threading.Thread(target=go)
    thread.start()
    assert started.wait(wait_s), "the first run never started"
    return thread, updates
