"""``ganprior app``: a Gradio web app for interactive restoration and editing.

The page talks to two generator handlers, ``restore_stream`` and ``edit_stream``. They hold all the
logic and know nothing of Gradio: they take plain values (an image-editor dict of numpy arrays,
names, numbers), run the library in a worker thread, and yield ``Update`` records while it runs, so
tests call them directly and the page only maps records to components.

* Uploads go through ``read_upload`` (size, pixel count and format checks, then the library's
  reader, which handles 16-bit, palette, CMYK and transparent images); a bad upload is a one-line
  message in the page, never a traceback.
* Every run writes to its own fresh folder and registers its cancel flag under the browser
  session's id, so two tabs never share results and *Cancel* stops only its own tab's run.
* The mask for inpainting is whatever is painted on the image (any non-transparent brush pixel);
  transparent pixels of an uploaded RGBA image come pre-painted.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ..config import RunConfig
from ..errors import GanpriorError
from ..io import atomic_write
from ..tasks import TASKS

MAX_UPLOAD_MB = 20
MAX_PIXELS = 40_000_000  # decoded size limit (a 6300 x 6300 photo); bigger uploads are refused unread
DISPLAY_SIZE = 256  # results are shown at this size (the priors render 64 px); downloads are native
METHOD_CHOICES = ("preset", "multi", "single", "subspace", "dgp")
EDIT_METHOD_CHOICES = ("single", "multi", "dgp")
POLL_SECONDS = 0.25
PAINT_COLOR = (255, 64, 64)
DEMO_DIR = Path(__file__).resolve().parents[1] / "demo"


class Cancelled(Exception):
    """Raised inside the worker when the page's Cancel button is pressed."""


@dataclass
class Upload:
    """A validated upload: ``image`` (H, W, 3) uint8 and ``missing`` (H, W) bool (transparent pixels)."""
    image: np.ndarray
    missing: np.ndarray | None
    name: str


@dataclass
class Update:
    """One state of a running job, as the page shows it.

    status: one line of text (progress, result summary, or an error starting with ``Error:``).
    before / after: (H, W, 3) uint8 images for the comparison slider (after is the live result).
    frames: edit frames (H, W, 3) uint8, for the edit tab.
    metrics: a Markdown table; files: paths to offer for download; done: the job has ended.
    """
    status: str
    before: np.ndarray | None = None
    after: np.ndarray | None = None
    frames: list[np.ndarray] = field(default_factory=list)
    metrics: str = ""
    files: list[str] = field(default_factory=list)
    done: bool = False
    error: bool = False
    step: int = 0
    total: int = 0


# -- uploads and masks --------------------------------------------------------------------------

def read_upload(path: str | os.PathLike | None, max_mb: float = MAX_UPLOAD_MB,
                max_pixels: int = MAX_PIXELS) -> Upload:
    """Validate an uploaded file and decode it to RGB uint8 (transparency becomes ``missing``)."""
    from ..io import read_image
    if path is None or str(path) == "":
        raise GanpriorError("upload an image first, or pick one of the examples")
    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"the upload {path.name} is gone; upload it again")
    size_mb = path.stat().st_size / 2 ** 20
    if size_mb > max_mb:
        raise GanpriorError(f"{path.name} is {size_mb:.1f} MB; uploads are limited to {max_mb:g} MB")
    try:
        with Image.open(path) as im:  # reads the header only: the pixel count is checked before decoding
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise GanpriorError(f"{path.name} is not an image this app can read (PNG, JPEG, WebP, BMP, TIFF, GIF)") \
            from None
    if w * h > max_pixels:
        raise GanpriorError(f"{path.name} is {w}x{h} pixels; the limit is {max_pixels / 1e6:.0f} megapixels")
    x, alpha = read_image(path, 3)
    image = (x.permute(1, 2, 0).numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    missing = None if alpha is None else (alpha[0].numpy() < 0.5)
    if missing is not None and not missing.any():
        missing = None
    return Upload(image=image, missing=missing, name=path.stem)


def editor_value(upload: Upload) -> dict:
    """The image-editor value for an upload: the image as background, transparent pixels pre-painted."""
    h, w = upload.image.shape[:2]
    layer = np.zeros((h, w, 4), np.uint8)
    if upload.missing is not None:
        layer[upload.missing] = (*PAINT_COLOR, 255)
    return {"background": upload.image, "layers": [layer], "composite": None}


def _rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.dtype != np.uint8:
        a = (a.astype(np.float32) * (255.0 if a.max() <= 1.0 else 1.0)).clip(0, 255).astype(np.uint8)
    if a.shape[2] == 4:  # composite a transparent background over white, as the library's reader does
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    return a[..., :3]


def editor_image(editor: dict | None) -> np.ndarray:
    """The (H, W, 3) uint8 background of an image-editor value."""
    if not editor or editor.get("background") is None:
        raise GanpriorError("upload an image first, or pick one of the examples")
    return _rgb(editor["background"])


def painted_mask(editor: dict | None) -> np.ndarray | None:
    """(H, W) bool of painted pixels over all layers (True = missing), or None if nothing is painted."""
    if not editor:
        return None
    h, w = editor_image(editor).shape[:2]
    painted = np.zeros((h, w), bool)
    for layer in editor.get("layers") or []:
        if layer is None:
            continue
        layer = np.asarray(layer)
        if layer.shape[:2] != (h, w):
            raise GanpriorError(f"the painted layer is {layer.shape[1]}x{layer.shape[0]}, the image "
                                f"{w}x{h}; upload the image again")
        painted |= (layer[..., 3] > 0) if layer.ndim == 3 and layer.shape[2] == 4 else (layer.reshape(h, w, -1) > 0).any(-1)
    return painted if painted.any() else None


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()


def enlarged(image: np.ndarray, size: int = DISPLAY_SIZE) -> np.ndarray:
    """(H, W, 3) uint8 enlarged by an integer factor (nearest) so its longer side reaches ``size``."""
    k = max(1, size // max(image.shape[:2]))
    return np.repeat(np.repeat(image, k, axis=0), k, axis=1)


def _display(x: torch.Tensor, size: int = DISPLAY_SIZE) -> np.ndarray:
    """(C, h, w) in [0, 1] -> (size, size, 3) uint8, nearest-neighbour (the pixels the prior made)."""
    from ..io import to_uint8
    x = x.detach().float().cpu().clamp(0, 1)
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return to_uint8(F.interpolate(x[None], size=(size, size), mode="nearest")[0])


# -- runs: one cancel flag per browser session ------------------------------------------------

class RunRegistry:
    """Cancel flags keyed by browser session, so Cancel in one tab never stops another tab's run."""

    def __init__(self):
        self._lock = threading.Lock()
        self._flags: dict[str, threading.Event] = {}

    def start(self, session: str) -> threading.Event:
        flag = threading.Event()
        with self._lock:
            old = self._flags.get(session)
            if old is not None:  # a new run from the same tab supersedes the old one
                old.set()
            self._flags[session] = flag
        return flag

    def cancel(self, session: str) -> bool:
        with self._lock:
            flag = self._flags.get(session)
        if flag is None:
            return False
        flag.set()
        return True

    def finish(self, session: str, flag: threading.Event) -> None:
        with self._lock:
            if self._flags.get(session) is flag:
                del self._flags[session]

    def running(self, session: str) -> bool:
        with self._lock:
            return session in self._flags


RUNS = RunRegistry()


@dataclass
class _Progress:
    """Shared between the worker thread and the streaming handler."""
    step: int = 0
    total: int = 0
    loss: float = float("nan")
    image: torch.Tensor | None = None
    result: object = None
    error: BaseException | None = None


def _stream_worker(work, flag: threading.Event, progress: _Progress, label: str,
                   before: np.ndarray | None) -> Iterator[Update]:
    """Run ``work(callback)`` in a thread and yield an Update whenever the optimisation advanced.

    Closing the generator (the page's Cancel, a closed tab) sets ``flag``; the worker's callback
    then raises ``Cancelled`` at its next step and the thread ends."""
    def callback(step, total, loss, x):
        if flag.is_set():
            raise Cancelled()
        progress.step, progress.total = int(step), int(total)
        progress.loss = float(torch.as_tensor(loss).float().mean())
        progress.image = x[0].detach().cpu().clone()

    def run():
        try:
            progress.result = work(callback)
        except BaseException as e:  # noqa: BLE001 - handed to the streaming side, which reports it
            progress.error = e

    worker = threading.Thread(target=run, name="ganprior-app-run", daemon=True)
    worker.start()
    shown = -1
    try:
        while worker.is_alive():
            worker.join(POLL_SECONDS)
            if progress.step != shown and progress.image is not None:
                shown = progress.step
                yield Update(status=f"{label}: step {progress.step}/{progress.total}, loss {progress.loss:.4f}",
                             before=before, after=_display(progress.image), step=progress.step,
                             total=progress.total)
    finally:
        flag.set()  # no-op after a normal end; stops the worker if the page went away
        worker.join()


def _error_update(e: BaseException, before: np.ndarray | None = None) -> Update:
    if isinstance(e, Cancelled):
        return Update(status="Cancelled: nothing was written.", before=before, done=True, error=True)
    if isinstance(e, GanpriorError):
        return Update(status=f"Error: {e}", before=before, done=True, error=True)
    if isinstance(e, MemoryError):
        return Update(status="Error: out of memory; use fewer codes or a smaller image", before=before, done=True,
                      error=True)
    msg = str(e).splitlines()[0] if str(e) else ""
    return Update(status=f"Error: internal error {type(e).__name__}: {msg}", before=before, done=True, error=True)


def _run(work, finish, *, label: str, before: np.ndarray | None, runs: RunRegistry,
         session: str) -> Iterator[Update]:
    """Stream a job: ``work(callback)`` runs in a worker thread, ``finish(result)`` returns the
    final Update; a failure or Cancel ends the stream with a one-line status, and the session's
    cancel flag is always released."""
    flag = runs.start(session)
    progress = _Progress()
    try:
        yield Update(status=f"{label}: starting", before=before)
        yield from _stream_worker(work, flag, progress, label, before)
        if progress.error is not None:
            raise progress.error
        yield finish(progress.result)
    except BaseException as e:  # noqa: BLE001 - shown in the page
        if isinstance(e, GeneratorExit):
            raise
        yield _error_update(e, before)
    finally:
        runs.finish(session, flag)


def _check_knobs(steps, codes, seed, *, preset_steps: bool = False) -> tuple[int | None, int | None, int]:
    """Steps, codes and seed from the page's controls; 0 codes (and, with ``preset_steps``, 0 or no
    steps) mean the task's preset (None)."""
    values = {"steps": steps, "codes": codes, "seed": seed}
    for k, v in values.items():
        if v is not None and (not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise GanpriorError(f"{k} must be a number, got {v!r}")
    if preset_steps and not steps:
        steps = None
    elif steps is None or int(steps) < 1:
        raise GanpriorError(f"steps must be >= 1, got {steps}")
    if codes is not None and int(codes) < 0:
        raise GanpriorError(f"codes must be >= 0 (0 = the preset), got {codes}")
    return (None if steps is None else int(steps)), (int(codes) or None) if codes is not None else None, \
        int(seed or 0)


def _layer(layer) -> int | None:
    if layer in (None, "", "preset"):
        return None
    try:
        return int(layer)
    except (TypeError, ValueError):
        raise GanpriorError(f"layer must be a number or 'preset', got {layer!r}") from None


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"


def metrics_table(record: dict) -> str:
    """A Markdown table of a run's metrics (reference metrics only when ground truth was known)."""
    rows = [("PSNR (dB)", record.get("psnr")), ("SSIM", record.get("ssim")), ("LPIPS", record.get("lpips")),
            ("NIQE", record.get("niqe")),
            ("colorization AuC", record.get("auc") if record.get("observed_channels") == 1 else None),
            ("data-fit PSNR (dB)", record.get("data_fit_psnr")), ("seconds", record.get("seconds"))]
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in rows if v is not None]
    if record.get("psnr") is None:
        lines.append("\n*No ground truth: tick “The upload is clean” to degrade it first and score the result.*")
    return "\n".join(lines)


def _new_folder(out_root: str | os.PathLike | None) -> Path:
    root = Path(out_root) if out_root is not None else Path(tempfile.gettempdir()) / "ganprior-app"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=root))


# -- restoration --------------------------------------------------------------------------------

def restore_config(task: str = "inpaint", prior: str = "utkface64", method: str | None = "preset",
                   codes: int | None = 0, layer: int | str | None = "preset", steps: int | None = 0,
                   factor: int = 4, noise_sigma: float = 0.1, simulate: bool = True, seed: int = 0,
                   perceptual: float | str | None = None, extra_task_options: dict | None = None) -> RunConfig:
    """The ``RunConfig`` of the Restore tab's controls: 'preset' (and 0 codes or steps) leaves an
    option to the task's preset, exactly as the CLI does when a flag is not given."""
    from ..tasks import parse_task, task_options
    tasks = parse_task(task)
    if method in (None, "", "preset"):
        method = None
    elif method not in METHOD_CHOICES:
        raise GanpriorError(f"unknown method {method!r}; choose from {', '.join(METHOD_CHOICES)}")
    steps, codes, seed = _check_knobs(steps, codes, seed, preset_steps=True)
    # the page's task controls, kept for the tasks of the chain that declare them
    given = {"factor": factor, "noise_sigma": noise_sigma, **(extra_task_options or {})}
    wanted = {o.name for o in task_options(tasks)}
    task_values = {k: v for k, v in given.items() if k in wanted and v is not None}
    return RunConfig.from_options("+".join(tasks), prior=None if not isinstance(prior, str) else prior,
                                  method=method, num_codes=codes, layer=_layer(layer), steps=steps,
                                  simulate=bool(simulate), seed=seed, perceptual=perceptual,
                                  task_options=task_values)


def restore_stream(editor: dict | None, task: str = "inpaint", prior: str = "utkface64",
                   method: str = "preset", codes: int | None = 0, layer: int | str | None = "preset",
                   steps: int | None = 0, factor: int = 4, noise_sigma: float = 0.1, simulate: bool = True,
                   seed: int = 0, *, session: str = "local", out_root: str | os.PathLike | None = None,
                   runs: RunRegistry = RUNS, perceptual: float | str | None = None,
                   task_options: dict | None = None) -> Iterator[Update]:
    """Restore the editor's image; yields live Updates, then a final one with metrics and files.

    The controls become a ``RunConfig`` and run through ``ganprior.pipeline`` as ``ganprior TASK``
    and ``ganprior.restore`` do, so the result's bytes equal theirs for the same settings.
    With ``simulate`` the upload is taken as clean: it is degraded (with the painted mask for
    inpainting), restored, and scored against itself. Without it the upload is the degraded photo
    (gray for colorize, low-resolution for super-resolve); the painted area is what is missing.
    Errors end the stream with a one-line ``Error:`` status; nothing is written for a failed run.
    """
    before = None
    try:
        from ..io import write_json
        from ..metrics import psnr
        from ..pipeline import Pipeline, output_files
        from ..tasks import needs_mask
        config = restore_config(task, prior, method, codes, layer, steps, factor, noise_sigma, simulate, seed,
                                perceptual, extra_task_options=task_options)
        tasks = config.tasks
        image = editor_image(editor)
        painted = painted_mask(editor)
        if needs_mask(tasks) and painted is None:
            raise GanpriorError(f"{'+'.join(tasks)} needs a mask: paint the area to fill on the image")
        mask = None if painted is None or not needs_mask(tasks) else torch.from_numpy(~painted).float()[None]
        pipe = Pipeline(config, prior=None if isinstance(prior, str) else prior)
        inputs = pipe.load(_to_tensor(image), mask=mask)
        before = _display(inputs.observed[0].clamp(0, 1))
        method = pipe.config.method
    except BaseException as e:  # noqa: BLE001 - shown in the page
        yield _error_update(e, before)
        return
    label = f"{method} {pipe.task_name} on {pipe.prior.name}"

    def work(callback):
        return pipe.run(inputs, callback=callback)

    def finish(result) -> Update:
        from ..tasks import build_degradation
        deg = build_degradation(tasks, pipe.prior.resolution, mask=inputs.masks, **pipe.config.task_options)
        with torch.no_grad():
            fit = psnr(deg.A(result.raw.cpu()).clamp(0, 1), inputs.observed.clamp(0, 1))
        record = {"task": pipe.task_name, "prior": pipe.prior.name, "method": method, "steps": result.steps,
                  "seed": pipe.config.seed, "simulated": bool(simulate), **result.metrics[0],
                  "observed_channels": int(inputs.observed.shape[1]),
                  "data_fit_psnr": float(fit[0]), "seconds": result.seconds, "notes": list(result.notes),
                  "settings": pipe.config.to_json()}
        out = _new_folder(out_root)
        encoded = output_files(result, 0, method=method, result_name="result.png", input_name="input.png",
                               sheet_name="sheet.png")
        if result.ground_truth is not None:
            from ..io import encode_image
            encoded["ground_truth.png"] = encode_image(result.ground_truth[0])
        files = []
        for name in ("result.png", "input.png", "ground_truth.png", "sheet.png"):
            if name in encoded:
                files.append(atomic_write(out / name, lambda f, data=encoded[name]: f.write(data)))
        files.append(write_json(record, out / "metrics.json"))
        summary = f"Done: {label}, {result.steps} steps in {result.seconds:.1f} s"
        if record["psnr"] is not None:
            summary += f", PSNR {record['psnr']:.2f} dB against the clean upload"
        return Update(status=summary, before=before, after=_display(result.images[0]), metrics=metrics_table(record),
                      files=[str(f) for f in files], done=True)

    yield from _run(work, finish, label=label, before=before, runs=runs, session=session)


# -- editing ------------------------------------------------------------------------------------

def direction_choices(prior: str) -> list[str]:
    """Directions the edit tab offers for a prior: its shipped names, then SeFa and PCA components."""
    from ..editing.directions import named_directions
    names = sorted(named_directions(prior)) if prior else []
    return names + [f"sefa:{i}" for i in range(5)] + [f"pca:{i}" for i in range(5)]


def edit_stream(editor: dict | None, prior: str = "utkface64", method: str = "single", direction: str = "age",
                strength: float = 2.0, frames: int = 5, steps: int = 300, seed: int = 0, *,
                session: str = "local", out_root: str | os.PathLike | None = None,
                runs: RunRegistry = RUNS, perceptual: float | str = "auto") -> Iterator[Update]:
    """Invert the editor's image, then move its code(s) along ``direction`` from -strength to +strength."""
    before = None
    try:
        from ..editing import edit_frames, strengths_for
        from ..editing.directions import resolve_direction
        from ..io import make_sheet, save_gif, save_image, write_json
        from ..pipeline import Pipeline
        from ..priors import load_prior
        if method not in EDIT_METHOD_CHOICES:
            raise GanpriorError(f"unknown method {method!r}; choose from {', '.join(EDIT_METHOD_CHOICES)}")
        steps, _, seed = _check_knobs(steps, None, seed)
        if frames is None or int(frames) < 2 or not (strength is not None and math.isfinite(strength) and strength > 0):
            raise GanpriorError(f"frames must be >= 2 and strength a number > 0, got {frames} and {strength}")
        image = editor_image(editor)
        model = load_prior(prior)
        chosen = resolve_direction(str(direction), model)  # before the inversion: a bad direction fails fast
        # the same inversion as `ganprior edit`: the named method with its own defaults
        pipe = Pipeline(RunConfig.from_options("reconstruct", method=method, steps=steps, seed=seed,
                                               perceptual=perceptual), prior=model)
        inputs = pipe.load(_to_tensor(image))
        before = _display(inputs.observed[0])
    except BaseException as e:  # noqa: BLE001
        yield _error_update(e, before)
        return

    def work(callback):
        return pipe.run(inputs, callback=callback)

    def finish(result) -> Update:
        strengths = strengths_for(float(strength), int(frames))
        edited = edit_frames(result, chosen, strengths, prior=model)
        out = _new_folder(out_root)
        files = [save_image(result.images[0], out / "reconstruction.png")]
        files += [save_image(x, out / f"frame_{k:02d}.png") for k, x in enumerate(edited)]
        files.append(save_gif(list(edited) + list(edited.flip(0)[1:-1]), out / "edit.gif"))
        files.append(save_image(make_sheet([inputs.observed[0], result.images[0], *edited],
                                           ["input", "reconstruction", *[f"{chosen.name[:12]} {s:+.2f}"
                                                                        for s in strengths]], tile=96),
                                out / "strip.png"))
        record = {"prior": model.name, "method": method, "steps": result.steps, "seed": seed,
                  "direction": {"spec": str(direction), "name": chosen.name, "source": chosen.source,
                                "accuracy": chosen.accuracy},
                  "strengths": strengths, "seconds": result.seconds}
        files.append(write_json(record, out / "edit.json"))
        return Update(status=f"Done: {chosen.name} edit, strengths {strengths[0]:+g} to {strengths[-1]:+g}",
                      before=before, after=_display(result.images[0]), frames=[_display(x) for x in edited],
                      files=[str(f) for f in files], done=True)

    yield from _run(work, finish, label=f"{method} inversion on {model.name}", before=before, runs=runs,
                    session=session)


def examples() -> list[str]:
    """Bundled example images (clean faces first, then real degraded photos)."""
    return [str(p) for sub in ("faces", "real") for p in sorted((DEMO_DIR / sub).glob("*.png"))]


TASK_CHOICES = TASKS + ("colorize+inpaint+super-resolve",)
