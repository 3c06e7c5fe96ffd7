"""``ganprior app``: a Gradio web app for interactive restoration and editing.

The page talks to two generator handlers, ``restore_stream`` and ``edit_stream``. They hold all the
logic and know nothing of Gradio: they take plain values (an image-editor dict of numpy arrays,
names, numbers), run the library in a worker thread, and yield ``Update`` records while it runs, so
tests call them directly and the page only maps records to components.

* Uploads go through ``uploads.read_upload`` (size, pixel count and format checks, then the
  library's reader, which handles 16-bit, palette, CMYK and transparent images); a bad upload is a
  one-line message in the page, never a traceback, and never a server path (``messages``).
* The run gets the exact uploaded pixels: the page keeps the decoded upload for the session and
  passes it as ``source``; the editor's (browser-encoded) picture only carries the painted mask.
* Every handler checks every limit itself (``limits``: pixels of the image and of each painted
  layer, steps, codes, frames, the prior by name only, directions by name only), since each can be
  called without the page; at most ``limits.SLOTS.size`` runs optimise at once, the others wait.
* Every run writes to its own fresh folder and registers its cancel flag under the browser
  session's id, so two tabs never share results and *Cancel* stops only its own tab's run.
* The mask for inpainting is whatever is painted on the image (any non-transparent brush pixel);
  transparent pixels of an uploaded RGBA image come pre-painted.
* Whole photos (``faces="detect"``, issue #28): ``find_faces`` shows the faces the run will restore
  without running it; ``restore_stream`` then restores them with ``ganprior.faces.photo``'s
  ``load_photo`` and ``restore_photo``, the functions ``ganprior TASK --faces detect`` and
  ``ganprior.restore(..., faces="detect")`` call, so the result has their bytes.
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

from ..config import RunConfig
from ..errors import GanpriorError
from ..io import atomic_write
from ..tasks import TASKS
from . import directions as app_directions
from . import limits
from .limits import MAX_PIXELS, MAX_UPLOAD_MB, SLOTS, RunSlots
from .messages import public_text
from .uploads import PAINT_COLOR, Upload, editor_image, editor_input, editor_value, painted_mask, read_upload

DISPLAY_SIZE = 256  # results are shown at this size (the priors render 64 px); downloads are native
METHOD_CHOICES = ("preset", "multi", "single", "subspace", "dgp")
EDIT_METHOD_CHOICES = ("single", "multi", "dgp")
POLL_SECONDS = 0.25
WAIT_NOTICE_S = 2.0  # a waiting run tells the page it still waits this often
DEMO_DIR = Path(__file__).resolve().parents[1] / "demo"
FACE_CHOICES = ("aligned", "detect")  # the Restore tab: an aligned face crop, or a whole photo
PHOTO_NAME = "the upload"  # how a photo's notes name it (never a server path)


class Cancelled(Exception):
    """Raised inside the worker when the page's Cancel button is pressed."""


@dataclass
class Update:
    """One state of a running job, as the page shows it.

    status: one line of text (progress, result summary, or an error starting with ``Error:``).
    before / after: (H, W, 3) uint8 images for the comparison slider (after is the live result; a
    whole photo's is only set at the end, at full size, with ``before`` the input at the same size).
    frames: edit frames (H, W, 3) uint8, for the edit tab.
    metrics: a Markdown table; files: paths to offer for download; done: the job has ended.
    crops: a whole photo's faces (H, W, 3) uint8, live while they are restored, then restored.
    faces: a whole photo's face records (box, landmarks, score, restored, reason).
    result: the path of the full-size result image, once written.
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
    crops: list[np.ndarray] = field(default_factory=list)
    faces: list[dict] = field(default_factory=list)
    result: str | None = None


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
    image: torch.Tensor | None = None  # the batch's images at the last step, (B, C, R, R)
    result: object = None
    error: BaseException | None = None


def _live_first(images: torch.Tensor) -> dict:
    """A live Update's images: the first of the batch, as the comparison's result."""
    return {"after": _display(images[0])}


def _stream_worker(work, flag: threading.Event, progress: _Progress, label: str,
                   before: np.ndarray | None, live=_live_first) -> Iterator[Update]:
    """Run ``work(callback)`` in a thread and yield an Update whenever the optimisation advanced;
    ``live(images)`` gives the Update's images from the batch's current ones.

    Closing the generator (the page's Cancel, a closed tab) sets ``flag``; the worker's callback
    then raises ``Cancelled`` at its next step and the thread ends."""
    def callback(step, total, loss, x):
        if flag.is_set():
            raise Cancelled()
        progress.step, progress.total = int(step), int(total)
        progress.loss = float(torch.as_tensor(loss).float().mean())
        progress.image = x.detach().cpu().clone()

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
                             before=before, step=progress.step, total=progress.total, **live(progress.image))
    finally:
        flag.set()  # no-op after a normal end; stops the worker if the page went away
        worker.join()


def _error_update(e: BaseException, before: np.ndarray | None = None) -> Update:
    """The last Update of a failed run: one line, no traceback, no server path."""
    if isinstance(e, Cancelled):
        return Update(status="Cancelled: nothing was written.", before=before, done=True, error=True)
    if isinstance(e, GanpriorError):
        text = f"Error: {e}"
    elif isinstance(e, MemoryError):
        text = "Error: out of memory; use fewer codes or a smaller image"
    else:
        msg = str(e).splitlines()[0] if str(e) else ""
        text = f"Error: internal error {type(e).__name__}: {msg}"
    return Update(status=public_text(text), before=before, done=True, error=True)


@dataclass
class Job:
    """A run once it holds a slot: ``work(callback)`` runs in the worker thread, ``finish(result)``
    makes the last Update, ``live(images)`` the images of the Updates in between."""
    label: str
    before: np.ndarray | None
    work: object
    finish: object
    live: object = _live_first
    start: dict = field(default_factory=dict)  # more fields of the "starting" Update


def _wait_for_slot(slots: RunSlots, flag: threading.Event) -> Iterator[Update]:
    """Take one of ``slots``, telling the page every few seconds that the run waits; Cancel (or a
    newer run of the same tab) ends the wait, and so does ``slots.max_wait_s`` with a one-line error."""
    start = time.monotonic()
    notice = start  # the first wait is announced at once, then every WAIT_NOTICE_S
    while not slots.acquire(timeout=min(POLL_SECONDS, slots.max_wait_s)):
        now = time.monotonic()
        if flag.is_set():
            raise Cancelled()
        if now - start >= slots.max_wait_s:
            raise GanpriorError(f"the app is busy: it runs {slots.size} job{'s' if slots.size > 1 else ''} at a time "
                                f"and none ended within {slots.max_wait_s:g} s; try again later")
        if now >= notice:
            notice = now + WAIT_NOTICE_S
            yield Update(status=f"Waiting: another run is using the app ({slots.size} at a time), "
                                f"{now - start:.0f} s")


def _run(prepare, *, runs: RunRegistry, session: str, slots: RunSlots) -> Iterator[Update]:
    """Stream a job: wait for a slot, ``prepare()`` it (loading the prior and the image tensors
    happens inside the slot too), run its ``work`` in a worker thread and end with its ``finish``.
    A failure or Cancel ends the stream with a one-line status; the session's cancel flag and the
    slot are always released."""
    flag = runs.start(session)
    acquired = False
    before = None
    try:
        yield from _wait_for_slot(slots, flag)
        acquired = True
        job = prepare()
        before = job.before
        progress = _Progress()
        yield Update(status=f"{job.label}: starting", before=before, **job.start)
        yield from _stream_worker(job.work, flag, progress, job.label, before, job.live)
        if progress.error is not None:
            raise progress.error
        yield job.finish(progress.result)
    except BaseException as e:  # noqa: BLE001 - shown in the page
        if isinstance(e, GeneratorExit):
            raise
        yield _error_update(e, before)
    finally:
        if acquired:
            slots.release()
        runs.finish(session, flag)


def _check_knobs(steps, codes, seed, *, preset_steps: bool = False) -> tuple[int | None, int | None, int]:
    """Steps, codes and seed from the page's controls; 0 codes (and, with ``preset_steps``, 0 or no
    steps) mean the task's preset (None). Steps and codes are bounded by ``limits``."""
    values = {"steps": steps, "codes": codes, "seed": seed}
    for k, v in values.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))
                              or not math.isfinite(v)):
            raise GanpriorError(f"{k} must be a number, got {v!r}")
    if preset_steps and not steps:
        steps = None
    elif steps is None or int(steps) < 1:
        raise GanpriorError(f"steps must be >= 1, got {steps}")
    if steps is not None and int(steps) > limits.MAX_STEPS:
        raise GanpriorError(f"steps must be <= {limits.MAX_STEPS}, got {int(steps)}")
    if codes is not None and int(codes) < 0:
        raise GanpriorError(f"codes must be >= 0 (0 = the preset), got {codes}")
    if codes is not None and int(codes) > limits.MAX_CODES:
        raise GanpriorError(f"codes must be <= {limits.MAX_CODES}, got {int(codes)}")
    if seed is not None and not -2 ** 63 <= int(seed) < 2 ** 63:
        raise GanpriorError(f"seed must fit in 64 bits, got {int(seed)}")
    return (None if steps is None else int(steps)), (int(codes) or None) if codes is not None else None, \
        int(seed or 0)


def _named_prior(prior):
    """A prior the app may load: a registry name (never a checkpoint path), or a ``Prior`` object
    (the Python API)."""
    from ..priors import PRIORS
    if isinstance(prior, str) or prior is None:
        if prior not in PRIORS:
            names = ", ".join(sorted(PRIORS))
            if any(c in str(prior) for c in "/\\") or str(prior).startswith(".") or Path(str(prior)).suffix:
                raise GanpriorError(f"priors are picked by name, not by path; choose one of {names}")
            raise GanpriorError(f"unknown prior {str(prior)[:60]!r}; choose one of {names}")
    return prior


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
                   perceptual: float | str | None = None, extra_task_options: dict | None = None,
                   faces: str = "aligned", mask_paint: str | None = None) -> RunConfig:
    """The ``RunConfig`` of the Restore tab's controls: 'preset' (and 0 codes or steps) leaves an
    option to the task's preset, exactly as the CLI does when a flag is not given. ``faces``:
    "aligned" (the upload is an aligned face crop) or "detect" (a whole photo: ``--faces detect``).
    ``mask_paint``: "COLOR[:TOLERANCE]" when the upload carries its damage painted in a colour
    (``--mask-paint``); empty or None: the mask is what is painted in the editor."""
    from ..tasks import parse_task, task_options
    tasks = parse_task(task)
    if method in (None, "", "preset"):
        method = None
    elif method not in METHOD_CHOICES:
        raise GanpriorError(f"unknown method {method!r}; choose from {', '.join(METHOD_CHOICES)}")
    if faces not in FACE_CHOICES:
        raise GanpriorError(f"faces must be one of {', '.join(FACE_CHOICES)}, got {str(faces)[:40]!r}")
    steps, codes, seed = _check_knobs(steps, codes, seed, preset_steps=True)
    # the page's task controls, kept for the tasks of the chain that declare them
    given = {"factor": factor, "noise_sigma": noise_sigma, **(extra_task_options or {})}
    wanted = {o.name for o in task_options(tasks)}
    task_values = {k: v for k, v in given.items() if k in wanted and v is not None}
    return RunConfig.from_options("+".join(tasks), prior=None if not isinstance(prior, str) else prior,
                                  method=method, num_codes=codes, layer=_layer(layer), steps=steps,
                                  simulate=bool(simulate), seed=seed, perceptual=perceptual,
                                  task_options=task_values, faces=faces, mask_paint=_paint_text(mask_paint))


def _paint_text(mask_paint) -> str | None:
    """The page's "damage painted in colour" field: None when empty (the editor's paint is the mask)."""
    if mask_paint is None:
        return None
    if not isinstance(mask_paint, str):
        raise GanpriorError(f"the paint colour must be text such as white or #ffffff:0.1, got "
                            f"{type(mask_paint).__name__}")
    if len(mask_paint) > 100:
        raise GanpriorError("the paint colour is over 100 characters; use COLOR[:TOLERANCE], e.g. white:0.1")
    return mask_paint.strip() or None


def restore_stream(editor: dict | None, task: str = "inpaint", prior: str = "utkface64",
                   method: str = "preset", codes: int | None = 0, layer: int | str | None = "preset",
                   steps: int | None = 0, factor: int = 4, noise_sigma: float = 0.1, simulate: bool = True,
                   seed: int = 0, *, session: str = "local", out_root: str | os.PathLike | None = None,
                   runs: RunRegistry = RUNS, perceptual: float | str | None = None,
                   task_options: dict | None = None, source: np.ndarray | None = None,
                   slots: RunSlots | None = None, faces: str = "aligned",
                   mask_paint: str | None = None) -> Iterator[Update]:
    """Restore the editor's image; yields live Updates, then a final one with metrics and files.

    The controls become a ``RunConfig`` and run through ``ganprior.pipeline`` as ``ganprior TASK``
    and ``ganprior.restore`` do, so the result's bytes equal theirs for the same settings.
    With ``simulate`` the upload is taken as clean: it is degraded (with the painted mask for
    inpainting), restored, and scored against itself. Without it the upload is the degraded photo
    (gray for colorize, low-resolution for super-resolve); the painted area is what is missing.
    ``source``: the upload the page kept for the session; it replaces the editor's (browser-made)
    copy of the picture when their sizes match (``uploads.editor_input``), so the run gets the exact
    uploaded pixels. Every limit (pixels, layers, steps, codes, prior name) is checked here, then the
    run waits for one of ``slots`` (default: the app's ``limits.SLOTS``).
    ``faces="detect"``: the upload is a whole photo (never simulated): its faces are found, restored
    and pasted back at its size times the task's factor (``_photo_job``); the result's size is
    bounded by ``limits.MAX_RESULT_PIXELS``.
    ``mask_paint`` ("COLOR[:TOLERANCE]", inpainting of a degraded upload): the damage is painted on
    the upload itself in that colour (``ganprior.physics.paint``, as ``--mask-paint``) instead of
    in the editor.
    Errors end the stream with a one-line ``Error:`` status; nothing is written for a failed run.
    """
    try:
        from ..tasks import needs_mask
        if faces == "detect" and simulate:
            raise GanpriorError("a whole photo is restored as it is: untick “The upload is clean”")
        config = restore_config(task, _named_prior(prior), method, codes, layer, steps, factor, noise_sigma,
                                simulate, seed, perceptual, extra_task_options=task_options, faces=faces,
                                mask_paint=mask_paint)
        if config.mask_paint is not None and simulate:
            raise GanpriorError("damage painted in a colour is read from a damaged upload: untick “The upload "
                                "is clean”")
        config.validate()  # the paint colour, before the run waits for a slot
        tasks = config.tasks
        image, painted = editor_input(editor, source)
        if config.mask_paint is not None and painted is not None:
            raise GanpriorError("the damage is either painted in the editor or in the upload's colour, not both: "
                                "clear the editor's paint or the paint colour")
        if needs_mask(tasks) and painted is None and config.mask_paint is None:
            raise GanpriorError(f"{'+'.join(tasks)} needs a mask: paint the area to fill on the image")
        mask = None if painted is None or not needs_mask(tasks) else torch.from_numpy(~painted).float()[None]
        if config.faces == "detect":
            limits.check_pixels([n * _scale(config) for n in image.shape[:2]], "the restored photo",
                                limits.MAX_RESULT_PIXELS)
    except BaseException as e:  # noqa: BLE001 - shown in the page
        yield _error_update(e)
        return
    if config.faces == "detect":
        prepare = _photo_job(config, prior, image, mask, out_root)
        yield from _run(prepare, runs=runs, session=session, slots=SLOTS if slots is None else slots)
        return

    def prepare() -> Job:
        from ..pipeline import Pipeline
        pipe = Pipeline(config, prior=None if isinstance(prior, str) else prior)
        inputs = pipe.load(_to_tensor(image), mask=mask)
        before = _display(inputs.observed[0].clamp(0, 1))
        method = pipe.config.method
        label = f"{method} {pipe.task_name} on {pipe.prior.name}"

        def work(callback):
            return pipe.run(inputs, callback=callback)

        def finish(result) -> Update:
            return _restore_result(result, pipe, inputs, label=label, before=before, simulate=simulate,
                                   out_root=out_root)
        return Job(label, before, work, finish)

    yield from _run(prepare, runs=runs, session=session, slots=SLOTS if slots is None else slots)


def _restore_result(result, pipe, inputs, *, label: str, before, simulate: bool, out_root) -> Update:
    """Write a finished restoration's files and metrics to a fresh folder; its last Update."""
    from ..io import encode_image, write_json
    from ..metrics import psnr
    from ..pipeline import output_files
    from ..tasks import build_degradation
    method = pipe.config.method
    deg = build_degradation(pipe.config.tasks, pipe.prior.resolution, mask=inputs.masks, **pipe.config.task_options)
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
                  files=[str(f) for f in files], done=True, result=str(out / "result.png"))


# -- whole photos -------------------------------------------------------------------------------

def _scale(config: RunConfig) -> int:
    """How many times the photo's size the restored photo is (the super-resolution factor)."""
    return int(config.task_options.get("factor", 1)) if "super-resolve" in config.tasks else 1


def _full(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W, 3) uint8 at its own size."""
    from ..io import to_uint8
    a = to_uint8(x)
    return np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a


def _at_size(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w, 3) uint8 at (height, width), nearest: the input's own pixels beside the result."""
    if image.shape[:2] == (height, width):
        return image
    from PIL import Image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.NEAREST))


def _boxed(photo) -> np.ndarray:
    """The photo as the run observes it, with its faces' boxes (``faces.photo.draw_faces``)."""
    from ..faces.photo import draw_faces
    return np.asarray(draw_faces(photo.observed, [f.to_json() for f in photo.faces]).convert("RGB"))


def faces_table(faces: list[dict], notes: list[str] = ()) -> str:
    """A Markdown table of a photo's faces (box in the photo's pixels, score, restored or why not),
    then its notes."""
    lines = []
    if faces:
        lines += ["| face | box (x0, y0, x1, y1) | score | restored |", "|---|---|---|---|"]
        for i, f in enumerate(faces, 1):
            box = ", ".join(f"{v:.0f}" for v in f["box"])
            done = "yes" if f["restored"] else f"no: {f.get('reason', 'left to the background')}"
            lines.append(f"| {i} | {box} | {f['score']:.2f} | {done} |")
    lines += [f"\n*{public_text(n)}*" for n in notes]
    return "\n".join(lines)


@dataclass
class FoundFaces:
    """What ``find_faces`` shows before a run: the photo with its boxes, the aligned crops to restore,
    the face records, a table and a one-line status."""
    image: np.ndarray | None
    crops: list[np.ndarray]
    faces: list[dict]
    table: str
    status: str
    error: bool = False


def find_faces(editor: dict | None, task: str = "inpaint", prior: str = "utkface64", factor: int = 4,
               noise_sigma: float = 0.1, *, task_options: dict | None = None,
               source: np.ndarray | None = None) -> FoundFaces:
    """The faces a whole-photo run of these settings would restore, found without running it:
    ``load_photo`` as the run calls it (the task's observation, the prior's template). Nothing is
    optimised, so no run slot is taken; the pixel limits are checked as for a run. Inpainting with
    nothing painted yet looks at the whole photo."""
    from ..faces.photo import load_photo
    from ..pipeline import Pipeline
    from ..tasks import needs_mask
    try:
        config = restore_config(task, _named_prior(prior), "single", 0, "preset", 0, factor, noise_sigma, False, 0,
                                0, extra_task_options=task_options, faces="detect")
        image, painted = editor_input(editor, source)
        mask = None
        if needs_mask(config.tasks):
            known = np.ones(image.shape[:2], bool) if painted is None else ~painted
            mask = torch.from_numpy(known).float()[None]
        pipe = Pipeline(config, prior=None if isinstance(prior, str) else prior)
        photo = load_photo(pipe, _to_tensor(image), name=PHOTO_NAME, mask=mask)
    except Exception as e:  # noqa: BLE001 - shown in the page as one line
        return FoundFaces(None, [], [], "", _error_update(e).status, error=True)
    faces = [f.to_json() for f in photo.faces]
    todo = len(photo.restored_faces)
    h, w = photo.observed.shape[-2:]
    status = (f"Found {len(faces)} face{'s' if len(faces) != 1 else ''} in the {w}×{h} photo, "
              f"{todo} to restore." if faces else f"No face found in the {w}×{h} photo: a run gives its "
                                                   f"classical restoration only.")
    crops = [_display(c, DISPLAY_SIZE // 2) for c in photo.crops]
    return FoundFaces(_boxed(photo), crops, faces, faces_table(faces, photo.notes), status)


def _photo_job(config: RunConfig, prior, image: np.ndarray, mask, out_root):
    """``prepare`` for a whole photo: find its faces (``load_photo``), restore them
    (``restore_photo``), write the full-size result as ``ganprior TASK --faces detect`` does."""

    def prepare() -> Job:
        from ..faces.photo import load_photo, restore_photo
        from ..pipeline import Pipeline
        pipe = Pipeline(config, prior=None if isinstance(prior, str) else prior)
        photo = load_photo(pipe, _to_tensor(image), name=PHOTO_NAME, mask=mask)
        boxed = _boxed(photo)
        faces = [f.to_json() for f in photo.faces]
        todo = len(photo.restored_faces)
        label = (f"{pipe.config.method} {pipe.task_name} on {pipe.prior.name} ({todo} face{'s' if todo != 1 else ''} "
                 f"of the photo to restore)")

        def work(callback):
            return restore_photo(pipe, photo, callback=callback)

        def live(images):
            return {"crops": [_display(x, DISPLAY_SIZE // 2) for x in images]}

        def finish(result) -> Update:
            return _photo_result(result, pipe, image, label=label, out_root=out_root)
        start = {"crops": [_display(c, DISPLAY_SIZE // 2) for c in photo.crops],
                 "faces": faces, "metrics": faces_table(faces, photo.notes)}
        return Job(label, boxed, work, finish, live, start)
    return prepare


def _photo_result(result, pipe, image: np.ndarray, *, label: str, out_root) -> Update:
    """Write a restored photo's files (``photo_files``: the CLI's result, input and sheet) and its
    record to a fresh folder; the last Update shows the input and the result at full size."""
    from ..faces.photo import photo_files
    from ..io import write_json
    out = _new_folder(out_root)
    encoded = photo_files(result, result_name="result.png", input_name="input.png", sheet_name="sheet.png")
    files = [atomic_write(out / name, lambda f, data=data: f.write(data)) for name, data in encoded.items()]
    h, w = image.shape[:2]
    record = {"task": pipe.task_name, "prior": pipe.prior.name, "method": pipe.config.method, "steps": result.steps,
              "seed": pipe.config.seed, "faces": result.faces, "photo": [w, h],
              "result": [int(result.image.shape[-1]), int(result.image.shape[-2])], "seconds": result.seconds,
              "notes": [public_text(n) for n in result.notes], "settings": pipe.config.to_json()}
    files.append(write_json(record, out / "metrics.json"))
    after = _full(result.image)
    before = _at_size(_full(result.observed), *after.shape[:2])
    restored = sum(f["restored"] for f in result.faces)
    summary = (f"Done: {label}, {result.steps} steps in {result.seconds:.1f} s; {restored} of "
               f"{len(result.faces)} faces restored, {after.shape[1]}×{after.shape[0]} result")
    if not result.faces:
        summary = f"Done: no face found; the {after.shape[1]}×{after.shape[0]} result is the photo's classical " \
                  f"restoration"
    return Update(status=summary, before=before, after=after, metrics=faces_table(result.faces, record["notes"]),
                  files=[str(f) for f in files], done=True, faces=result.faces, result=str(out / "result.png"))


# -- editing ------------------------------------------------------------------------------------

def direction_choices(prior: str, uploaded: dict[str, str] | None = None) -> list[str]:
    """Directions the edit tab offers for a prior: its shipped names, SeFa and PCA components, then
    the direction files uploaded in the session."""
    return app_directions.direction_choices(prior, uploaded)


def edit_stream(editor: dict | None, prior: str = "utkface64", method: str = "single", direction: str = "age",
                strength: float = 2.0, frames: int = 5, steps: int = 300, seed: int = 0, *,
                session: str = "local", out_root: str | os.PathLike | None = None,
                runs: RunRegistry = RUNS, perceptual: float | str = "auto",
                uploaded_directions: dict[str, str] | None = None,
                slots: RunSlots | None = None) -> Iterator[Update]:
    """Invert the editor's image, then move its code(s) along ``direction`` from -strength to +strength.

    ``direction`` is a name the app accepts (``app.directions``): shipped with the prior, sefa:I /
    pca:I, or a key of ``uploaded_directions`` (the session's uploads); never a server path."""
    try:
        if method not in EDIT_METHOD_CHOICES:
            raise GanpriorError(f"unknown method {method!r}; choose from {', '.join(EDIT_METHOD_CHOICES)}")
        _named_prior(prior)
        steps, _, seed = _check_knobs(steps, None, seed)
        if frames is None or isinstance(frames, bool) or not isinstance(frames, (int, float, np.integer)) \
                or int(frames) < 2 or not (isinstance(strength, (int, float, np.integer, np.floating))
                                           and math.isfinite(strength) and strength > 0):
            raise GanpriorError(f"frames must be >= 2 and strength a number > 0, got {frames} and {strength}")
        if int(frames) > limits.MAX_FRAMES:
            raise GanpriorError(f"frames must be <= {limits.MAX_FRAMES}, got {int(frames)}")
        spec = app_directions.check_spec(direction, prior if isinstance(prior, str) else getattr(prior, "name", ""),
                                         uploaded_directions)
        image = editor_image(editor)
    except BaseException as e:  # noqa: BLE001
        yield _error_update(e)
        return

    def prepare() -> Job:
        from ..pipeline import Pipeline
        from ..priors import load_prior
        model = load_prior(prior)
        chosen = app_directions.load(spec, model, uploaded_directions)  # before the inversion: fails fast
        # the same inversion as `ganprior edit`: the named method with its own defaults
        pipe = Pipeline(RunConfig.from_options("reconstruct", method=method, steps=steps, seed=seed,
                                               perceptual=perceptual), prior=model)
        inputs = pipe.load(_to_tensor(image))
        before = _display(inputs.observed[0])

        def work(callback):
            return pipe.run(inputs, callback=callback)

        def finish(result) -> Update:
            return _edit_result(result, inputs, model, chosen, spec=spec, method=method, seed=seed,
                                strength=float(strength), frames=int(frames), before=before, out_root=out_root)
        return Job(f"{method} inversion on {model.name}", before, work, finish)

    yield from _run(prepare, runs=runs, session=session, slots=SLOTS if slots is None else slots)


def _edit_result(result, inputs, model, chosen, *, spec: str, method: str, seed: int, strength: float, frames: int,
                 before, out_root) -> Update:
    """Move a finished inversion along the direction and write frames, GIF, strip and record."""
    from ..editing import edit_frames, strengths_for
    from ..io import make_sheet, save_gif, save_image, write_json
    strengths = strengths_for(strength, frames)
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
              "direction": {"spec": spec, "name": chosen.name, "source": chosen.source,
                            "accuracy": chosen.accuracy},
              "strengths": strengths, "seconds": result.seconds}
    files.append(write_json(record, out / "edit.json"))
    return Update(status=f"Done: {chosen.name} edit, strengths {strengths[0]:+g} to {strengths[-1]:+g}",
                  before=before, after=_display(result.images[0]), frames=[_display(x) for x in edited],
                  files=[str(f) for f in files], done=True)


def examples() -> list[str]:
    """Bundled example images (clean faces first, then real degraded photos)."""
    return [str(p) for sub in ("faces", "real") for p in sorted((DEMO_DIR / sub).glob("*.png"))]


TASK_CHOICES = TASKS + ("colorize+inpaint+super-resolve",)

__all__ = ["DISPLAY_SIZE", "EDIT_METHOD_CHOICES", "MAX_PIXELS", "MAX_UPLOAD_MB", "METHOD_CHOICES", "PAINT_COLOR",
           "RUNS", "SLOTS", "TASK_CHOICES", "Cancelled", "Job", "RunRegistry", "RunSlots", "Update", "Upload",
           "FACE_CHOICES", "FoundFaces", "direction_choices", "edit_stream", "editor_image", "editor_input",
           "editor_value", "enlarged", "examples", "faces_table", "find_faces", "metrics_table", "painted_mask",
           "read_upload", "restore_config", "restore_stream"]
