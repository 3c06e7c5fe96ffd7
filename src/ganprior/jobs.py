"""Resumable batch jobs: a manifest of the inputs and their state, and the local engine.

``ganprior TASK INPUT... --out DIR`` is a job. ``DIR/manifest.json`` holds the job's settings and,
per input, its source, the sha256 of its bytes, its state (``pending``, ``done`` or ``failed``),
the error of a failure (one line), the output files with their sha256, its metrics, seconds and
attempts. The manifest is rewritten atomically after every finished batch, and every output file
is written atomically before the manifest names it, so a kill (even ``kill -9``) loses no finished
result and leaves no half-written file (at most ``.*.part`` temporaries, removed by the next run).

A rerun on the same DIR skips an input only when it is ``done``, its bytes still hash to the
recorded sha256 (and its own mask's, ``mask_sha256``, when it has one: a ``--mask DIR`` folder or a
``NAME_mask.*`` beside it, ``ganprior.mask_files``) and every recorded output still exists with its
recorded sha256; anything else is redone. A per-image mask is part of its input: a changed one
redoes that input. The one ``--mask FILE`` of a run is a setting: a changed one is refused, as
other settings are. A rerun with other settings is refused (``--restart`` starts over) so results are never
mixed. A failure on one input (unreadable file, NaN loss, ...) is recorded and the others go on; a
batch whose inversion fails is retried image by image so that only the culprit fails.

Both engines (this local one and ``ganprior.ray_engine``) run ``process_items``: it reads a batch
of inputs from their bytes, inverts it and returns the encoded output files and metrics; it never
writes to DIR. Only the driver (``Job.record``) writes outputs and the manifest, so each input's
outputs are written once per finished attempt, and results of a retried task are deduplicated by
input name.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .config import RunConfig
from .errors import GanpriorError
from .inputs import Inputs
from .pipeline import Pipeline, job_file_names, output_files

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2  # 2: settings are a RunConfig's fields (ganprior.config)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str | None:
    """sha256 of a file's bytes, or None when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def one_line(e: BaseException) -> str:
    """A one-line message for an exception (GanpriorError's text; others prefixed by their type)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, GanpriorError):
        return text or type(e).__name__
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


# ---------------------------------------------------------------------------------------------------
# settings


@dataclass
class JobSettings:
    """What a job computes (``config``, a ``RunConfig`` whose ``prior`` and ``mask`` are absolute
    paths or names) and where (``device``).

    ``config`` is compared with the manifest's on a rerun; ``device`` and the ``*_data`` fields are
    not (they change where and from which bytes it runs, not the result)."""
    config: RunConfig
    device: str = "cpu"
    prior_data: bytes | None = None  # the checkpoint's bytes, shipped to workers that may not see the path
    mask_data: bytes | None = None  # a mask file's bytes, likewise

    @property
    def tasks(self) -> list[str]:
        return self.config.tasks

    @property
    def task_name(self) -> str:
        return "+".join(self.tasks) or "reconstruct"

    @property
    def prior(self) -> str:
        return self.config.prior

    def fingerprint(self) -> dict:
        out = self.config.fingerprint()
        if self.mask_data is not None:
            out["mask_sha256"] = sha256_bytes(self.mask_data)
        return out


def _is_file(path) -> bool:
    """``os.path.isfile`` that is False for names the OS refuses (too long, bad bytes) instead of raising."""
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):
        return False


def job_settings(config: RunConfig, *, device: str = "cpu") -> JobSettings:
    """JobSettings of a run: the prior named or made absolute, the mask file read (its bytes travel
    with the job, its digest is part of the settings)."""
    from .priors.zoo import PRIORS, default_prior

    prior = config.prior or default_prior(config.method)
    if prior not in PRIORS and _is_file(prior):
        prior = str(Path(prior).resolve())
    mask_data, mask = None, config.mask
    from .mask_files import is_mask_folder
    if is_mask_folder(mask):
        mask = str(Path(mask).resolve())
    elif mask is not None and _is_file(mask):
        try:
            mask_data = Path(mask).read_bytes()
        except OSError as e:
            raise GanpriorError(f"cannot read mask {mask}: {e.strerror or type(e).__name__}") from None
        mask = str(Path(mask).resolve())
    encoder = config.encoder
    if encoder is not None and _is_file(encoder):  # a rerun from another folder finds the same file
        encoder = str(Path(encoder).resolve())
    return JobSettings(config=config.replace(prior=prior, mask=mask, encoder=encoder), device=device,
                       mask_data=mask_data)


# ---------------------------------------------------------------------------------------------------
# the work function, shared by both engines


@dataclass
class WorkItem:
    name: str
    source: str
    data: bytes
    mask: bytes | None = None  # its own mask file's bytes (``--mask DIR`` or NAME_mask.* beside it)
    mask_source: str | None = None  # that file's path, for messages and its extension


@dataclass
class ItemResult:
    """What processing one input gave: output files (name -> encoded bytes) and its metrics record,
    or an error."""
    name: str
    error: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    record: dict | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    worker: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


_CONTEXT: dict = {}  # per process: the prepared pipeline, reused by every batch of a job


def _context_key(settings: JobSettings) -> str:
    return json.dumps([settings.config.to_json(), settings.device], default=str)


def remember(settings: JobSettings, pipe: Pipeline) -> None:
    """Use ``pipe`` (already prepared by the driver) for this process's batches of the job."""
    _CONTEXT.clear()
    _CONTEXT[_context_key(settings)] = pipe


def pipeline_for(settings: JobSettings, tmp: Path) -> Pipeline:
    """The job's ``Pipeline`` (prior, resolved recipe, loss), prepared once per process."""
    key = _context_key(settings)
    if key not in _CONTEXT:
        config = settings.config
        if settings.prior_data is not None and not _is_file(config.prior):
            spec = tmp / Path(config.prior).name  # a worker that cannot see the checkpoint gets its bytes
            spec.write_bytes(settings.prior_data)
            config = config.replace(prior=str(spec))
        _CONTEXT.clear()  # one job's model at a time
        _CONTEXT[key] = Pipeline(config, device=settings.device)
    return _CONTEXT[key]


def mask_arg(settings: JobSettings, tmp: Path):
    mask = settings.config.mask
    if settings.mask_data is not None:
        path = tmp / ("mask" + Path(mask).suffix)
        path.write_bytes(settings.mask_data)
        return path
    return mask


def load_item(item: WorkItem, pipe: Pipeline, tmp: Path, mask=None) -> Inputs:
    """One input's ``Inputs`` (from its bytes, and its own mask's when it has one), validated as
    ``Pipeline.load`` does."""
    path = _item_file(item, tmp)
    own = _item_mask(item, tmp)
    try:
        inputs = pipe.load([path], mask=[own] if own is not None else mask)
    except GanpriorError as e:  # name the user's files, not the temporary copies
        raise GanpriorError(_user_names(str(e), item, path, own)) from None
    finally:
        path.unlink(missing_ok=True)
        if own is not None:
            own.unlink(missing_ok=True)
    inputs.names, inputs.sources = [item.name], [item.source]
    return inputs


def _item_file(item: WorkItem, tmp: Path) -> Path:
    path = tmp / "in" / item.name / Path(item.source).name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(item.data)
    return path


def _item_mask(item: WorkItem, tmp: Path) -> Path | None:
    """The item's own mask as a temporary file (its bytes travel with the item), or None."""
    if item.mask is None:
        return None
    path = tmp / "mask" / item.name / ("mask" + Path(item.mask_source or "mask.png").suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(item.mask)
    return path


def _user_names(text: str, item: WorkItem, path: Path, mask_path: Path | None) -> str:
    """An error's text with the temporary copies named as the user's files."""
    text = text.replace(str(path), item.source)
    return text.replace(str(mask_path), item.mask_source or "the mask") if mask_path is not None else text


def is_photo(item: WorkItem, pipe: Pipeline, tmp: Path) -> bool:
    """Whether ``item`` is restored as a whole photo (``--faces detect``, or ``auto`` and larger than
    an aligned crop) rather than as an aligned crop."""
    mode = pipe.config.faces
    if mode != "auto":
        return mode == "detect"
    from .faces.photo import is_aligned_crop
    from .io import image_size
    size = image_size(item.data)
    return size != (0, 0) and not is_aligned_crop(size, pipe.prior.resolution)  # unreadable: the crop path says why


def photo_item(item: WorkItem, pipe: Pipeline, tmp: Path, mask, progress, worker: str) -> ItemResult | None:
    """Restore one photo's faces and paste them back (``ganprior.faces.photo``); None when ``--faces
    auto`` finds the photo is one face filling the frame (restore it as an aligned crop)."""
    from .faces.photo import fills_frame, load_photo, photo_files, restore_photo
    path = _item_file(item, tmp)
    own = _item_mask(item, tmp)
    try:
        photo = load_photo(pipe, path, name=item.name, source=item.source, mask=own if own is not None else mask)
    except GanpriorError as e:  # name the user's files, not the temporary copies
        raise GanpriorError(_user_names(str(e), item, path, own)) from None
    finally:
        path.unlink(missing_ok=True)
        if own is not None:
            own.unlink(missing_ok=True)

    def callback(step, total, step_loss, x):
        if progress is not None:
            progress(step, total, step_loss)

    if pipe.config.faces == "auto" and fills_frame(photo):
        return None  # a face crop after all: the caller restores it whole
    result = restore_photo(pipe, photo, callback=callback)
    names = job_file_names(item.name)
    files = photo_files(result, result_name=names["result_name"], input_name=names["input_name"],
                        sheet_name=names["sheet_name"])
    from .metrics import METRIC_KEYS
    record = {"input": item.source, "task": "+".join(pipe.tasks) or "reconstruct", "method": pipe.config.method,
              **{k: None for k in METRIC_KEYS}, "seconds": result.seconds, "steps": result.steps,
              "faces": result.faces}
    return ItemResult(item.name, files=files, record=record, seconds=result.seconds, notes=result.notes,
                      worker=worker)


def process_items(items: list[WorkItem], settings: JobSettings,
                  progress: Callable[[int, int, object], None] | None = None) -> list[ItemResult]:
    """Read, invert and score one batch of inputs; return one ``ItemResult`` per item, in order.

    Pure with respect to the job: it reads only the items' bytes and writes only temporary files.
    It never raises for a bad input or a failed inversion: an input that cannot be read fails
    alone, and when the batch's inversion fails its images are retried one by one so that only the
    culprit fails. ``progress(step, total, loss)`` is called at every optimisation step."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    results: dict[str, ItemResult] = {}
    from .tempfiles import job_temp_prefix  # (its name lets the next run clean up after a kill -9)
    with tempfile.TemporaryDirectory(prefix=job_temp_prefix()) as tmp_name:
        tmp = Path(tmp_name)
        try:
            pipe = pipeline_for(settings, tmp)
            mask = mask_arg(settings, tmp)
        except Exception as e:  # noqa: BLE001 - the prior cannot be had here: every item fails, the job goes on
            if os.environ.get("GANPRIOR_DEBUG"):
                raise
            return [ItemResult(it.name, error=one_line(e), worker=worker) for it in items]
        loaded = []
        for it in items:
            try:
                done = photo_item(it, pipe, tmp, mask, progress, worker) if is_photo(it, pipe, tmp) else None
                if done is not None:
                    results[it.name] = done
                    continue
                loaded.append((it, load_item(it, pipe, tmp, mask)))
            except Exception as e:  # noqa: BLE001
                if os.environ.get("GANPRIOR_DEBUG") and not isinstance(e, GanpriorError):
                    raise
                results[it.name] = ItemResult(it.name, error=one_line(e), worker=worker)

        def invert(group):
            inputs = Inputs.concat([inp for _, inp in group])
            frames: list = []

            def callback(step, total, step_loss, x):
                if progress is not None:
                    progress(step, total, step_loss)
                if pipe.config.gif and (step == 1 or step % max(1, total // 40) == 0 or step == total):
                    frames.append(x.detach().cpu())

            result = pipe.run(inputs, callback=callback)
            n = len(group)
            method = pipe.config.method
            for i, (it, _) in enumerate(group):
                stopped = result.stopped_at is not None and result.stopped_at[i]
                record = {"input": it.source, "task": settings.task_name, "method": method,
                          **result.metrics[i], "seconds": result.seconds / n,
                          "steps": int(result.stopped_at[i]) if stopped else result.steps}
                files = output_files(result, i, method=method, frames=frames if pipe.config.gif else None,
                                     **job_file_names(inputs.names[i]))
                results[it.name] = ItemResult(it.name, files=files, record=record, seconds=result.seconds / n,
                                              notes=list(result.notes), worker=worker)

        pending = [loaded] if loaded else []
        while pending:
            group = pending.pop(0)
            try:
                invert(group)
            except Exception as e:  # noqa: BLE001 - isolate the failure to the image(s) that caused it
                if os.environ.get("GANPRIOR_DEBUG") and not isinstance(e, GanpriorError):
                    raise
                if len(group) > 1:
                    pending = [[g] for g in group] + pending
                else:
                    results[group[0][0].name] = ItemResult(group[0][0].name, error=one_line(e), worker=worker)
    return [results[it.name] for it in items]


# ---------------------------------------------------------------------------------------------------
# the job: inputs, manifest, outputs


@dataclass
class JobInput:
    name: str
    path: Path
    explicit: bool  # named on the command line (a folder's files are not)
    mask: Path | None = None  # its own mask file (``attach_masks``)


JOB_FILES = (MANIFEST, "metrics.json", "summary.png")  # written once per job, beside the inputs' outputs
# an output's name and atomic_write's temporary (".NAME_sheet.png.XXXXXXXX.part") must fit the file
# system's 255 bytes: a longer stem is cut and given a digest of the whole one
NAME_MAX_BYTES = 200


def _fitted(stem: str) -> str:
    """``stem`` itself, or (when its outputs' names would be too long) its first bytes plus ``~`` and
    8 hex digits of its sha256: the same stem always gets the same name."""
    raw = stem.encode("utf-8", "surrogateescape")
    if len(raw) <= NAME_MAX_BYTES:
        return stem
    head = raw[:NAME_MAX_BYTES - 9].decode("utf-8", "ignore")  # never half a character
    return f"{head}~{hashlib.sha256(raw).hexdigest()[:8]}"


def output_names(name: str) -> list[str]:
    """Every file an input called ``name`` may write in the job folder (its gif included, with or
    without --gif, so a name never depends on the settings)."""
    return list(job_file_names(name).values())


def unique_names(files: list[Path]) -> list[str]:
    """One job name per input file, such that no two inputs' outputs and no job file share a name.

    The first file with a stem takes it (``x.jpg`` -> ``x``); a later one whose outputs would
    clash adds its extension (``x.png`` -> ``x_png``), then a count (``x_png_2``). So ``x.jpg``,
    ``x.png`` and ``x_1.png`` are ``x``, ``x_png`` and ``x_1``; ``a_input.png`` beside ``a.png`` is
    ``a_input_png`` (``a_input.png`` is a's observation); ``summary.png`` is ``summary_png``. The
    names depend only on the files and their order, so a rerun gives every result the same name."""
    taken = set(JOB_FILES)
    names = []
    for f in files:
        name = next(c for c in _candidates(f) if not taken.intersection(output_names(c)))
        taken.update(output_names(name))
        names.append(name)
    return names


def _candidates(f: Path) -> Iterator[str]:
    """The names input ``f`` may take, in order: its stem, stem_ext, stem_ext_2, stem_ext_3, ..."""
    yield _fitted(f.stem)
    ext = f.suffix.lstrip(".").lower()
    base = f"{f.stem}_{ext}" if ext else f.stem
    if ext:
        yield _fitted(base)
    for n in itertools.count(2):
        yield _fitted(f"{base}_{n}")


def collect_inputs(args: Iterable[str | os.PathLike], drop_masks: bool = False) -> list[JobInput]:
    """Files as given, folders expanded (sorted), each with a unique job name (``unique_names``).
    ``drop_masks`` (an inpaint task): a ``NAME_mask.*`` beside an input ``NAME.*`` is that input's
    mask, not an input (``mask_files.drop_paired_masks``)."""
    from .io import expand_inputs
    found: list[tuple[Path, bool]] = []
    for a in args:
        found.extend((f, not Path(a).is_dir()) for f in expand_inputs([a]))
    if drop_masks:
        from .mask_files import drop_paired_masks
        kept = {id(f) for f in drop_paired_masks([f for f, _ in found])}
        found = [(f, e) for f, e in found if id(f) in kept]
    if not found:
        raise GanpriorError("no input given")
    names = unique_names([f for f, _ in found])
    return [JobInput(name, f, explicit) for name, (f, explicit) in zip(names, found)]


def attach_masks(inputs: list[JobInput], config: RunConfig) -> list[JobInput]:
    """Give each input of an inpaint job its own mask file where the run has per-image masks
    (``--mask DIR``, or ``NAME_mask.*`` beside the inputs when no ``--mask`` is given), checked before
    any work: an input with no mask (and, without ``--mask``, no transparency to take one from, and
    not ``--simulate``) is a one-line error naming it, as is a mask of another size than its input."""
    from .mask_files import check_mask_size, find_masks, has_transparency, is_mask_folder, missing_mask_error
    from .tasks import needs_mask
    if not needs_mask(config.tasks) or config.mask_paint is not None:
        return inputs
    folder = config.mask if is_mask_folder(config.mask) else None
    if config.mask is not None and folder is None:
        return inputs  # one mask (a file or a spec) for every input
    found = find_masks([i.path for i in inputs], folder)
    missing = [i.path for i, m in zip(inputs, found)
               if m is None and (folder is not None or not (config.simulate or has_transparency(i.path) is not False))]
    if missing:
        raise missing_mask_error(missing, folder, len(inputs))
    for inp, m in zip(inputs, found):
        if m is not None:
            check_mask_size(_shown_size(m), _shown_size(inp.path), m, inp.path)
    return [JobInput(i.name, i.path, i.explicit, m) for i, m in zip(inputs, found)]


def _shown_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as it is read (its EXIF orientation applied), from its header;
    (0, 0) when it cannot be read."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            w, h = im.size
            turned = im.getexif().get(0x0112) in (5, 6, 7, 8)
    except Exception:  # noqa: BLE001 - the full read says why
        return (0, 0)
    return (h, w) if turned else (w, h)


def planned_outputs(inputs: list[JobInput], gif: bool = False) -> dict[str, str]:
    """Every file name a job may write in its folder -> what writes it (an input's name or 'the job')."""
    planned = {name: "the job" for name in JOB_FILES}
    for inp in inputs:
        names = job_file_names(inp.name)
        for key in ("result_name", "input_name", "sheet_name") + (("gif_name",) if gif else ()):
            if names[key] in planned:  # unique_names makes this impossible; a caller's own names may not
                raise GanpriorError(f"two outputs would be named {names[key]} ({planned[names[key]]} and "
                                    f"{inp.name}); rename an input or restore them into separate --out folders")
            planned[names[key]] = inp.name
    return planned


def check_no_input_overwritten(out: Path, inputs: list[JobInput], reads: list, gif: bool = False) -> None:
    """Refuse a job whose outputs would replace a file it reads (an input, the mask, the checkpoint):
    ``ganprior reconstruct face.png --out .`` would write its result over face.png."""
    planned = planned_outputs(inputs, gif)
    try:
        folder = out.resolve()
    except OSError:
        return
    read = {}
    for path in [*(i.path for i in inputs), *(i.mask for i in inputs if i.mask is not None), *reads]:
        try:
            read[Path(path).resolve()] = Path(path)
        except (OSError, TypeError, ValueError):
            continue
    for inp in inputs:
        if not inp.explicit and inp.path.parent.resolve() == folder:
            raise GanpriorError(f"--out {out} is a folder of inputs: its results would be taken as inputs by the "
                                f"next run; choose another --out")
    for fname, owner in planned.items():
        target = folder / fname
        if target in read:
            who = "the job" if owner == "the job" else f"the result of {owner}"
            raise GanpriorError(f"--out {out} would overwrite {read[target]} with {who}; "
                                f"choose another --out (a run never writes over a file it reads)")


class _Writing:
    """``with _Writing(path):`` turns an OS failure to write (disk full, read-only file system,
    permission) into a one-line error; what was written before stays."""

    def __init__(self, path, doing: str = "write"):
        self.path, self.doing = path, doing

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if isinstance(e, OSError):
            kept = "; results written so far are kept, rerun to go on" if self.doing == "write" else ""
            raise GanpriorError(f"cannot {self.doing} {self.path}: {e.strerror or type(e).__name__}{kept}") from None
        return False


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, error)
    notes: list[str] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)

    def line(self) -> str:
        return f"done {self.done}, skipped {self.skipped}, failed {len(self.failed)}"


class Job:
    """A job's folder: its manifest, its inputs' states and the writing of their outputs.

    Hold it in a ``with`` block: it takes an exclusive lock on DIR (two runs never write one job)."""

    def __init__(self, out: str | os.PathLike, settings: JobSettings, inputs: list[JobInput], *,
                 restart: bool = False, prior_name: str | None = None):
        self.out = Path(out)
        self.settings = settings
        self.inputs = inputs
        self.restart = restart
        self.prior_name = prior_name
        self.summary = Summary()
        self._lock_fd: int | None = None
        self.items: dict[str, dict] = {}

    # -- opening ---------------------------------------------------------------------------------
    def check_settings(self) -> None:
        """Refuse a DIR that holds a job with other settings (before anything is written)."""
        old = self._read_manifest()
        if old is None or self.restart:
            return
        if old.get("version") != MANIFEST_VERSION:
            raise GanpriorError(f"--out {self.out} holds a job of another ganprior version (manifest version "
                                f"{old.get('version')!r}, this one writes {MANIFEST_VERSION}); use another --out, "
                                f"or --restart to start over")
        mine = json.loads(json.dumps(self.settings.fingerprint()))
        # a setting added since the job was written took its default then
        defaults = json.loads(json.dumps(RunConfig().fingerprint()))
        theirs = {**{k: v for k, v in defaults.items() if k in mine}, **old.get("settings", {})}
        if theirs != mine:
            diff = [f"{k} {theirs.get(k)!r} -> {mine.get(k)!r}" for k in sorted(set(mine) | set(theirs))
                    if theirs.get(k) != mine.get(k)]
            raise GanpriorError(f"--out {self.out} holds a job with other settings ({'; '.join(diff[:3])}"
                                f"{'; ...' if len(diff) > 3 else ''}); use another --out, or --restart to start over")

    def _read_manifest(self) -> dict | None:
        path = self.out / MANIFEST
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("items"), list):
                raise ValueError("not a ganprior manifest")
        except (OSError, ValueError) as e:
            if self.restart:
                return None
            raise GanpriorError(f"cannot read {path}: {one_line(e)}; use --restart to start over") from None
        return data

    def __enter__(self) -> Job:
        self.check_settings()
        with _Writing(self.out, "create"):
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock()
            for tmp in self.out.glob(".*.part"):  # left by a killed run: never an output
                tmp.unlink(missing_ok=True)
        old = self._read_manifest()
        if old is not None and self.restart:
            for entry in old["items"]:
                for f in entry.get("outputs", {}):
                    (self.out / f).unlink(missing_ok=True)
            old = None
        self.items = {e["name"]: e for e in old["items"]} if old else {}
        self.created = old.get("created") if old else time.strftime("%Y-%m-%dT%H:%M:%S")
        return self

    def __exit__(self, *exc) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _lock(self) -> None:
        import fcntl
        fd = os.open(self.out, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise GanpriorError(f"another ganprior run is writing to {self.out}; wait for it or use another --out") \
                from None
        self._lock_fd = fd

    # -- planning --------------------------------------------------------------------------------
    def pending(self) -> list[JobInput]:
        """The inputs to (re)do; the verified finished ones are counted as skipped."""
        todo = []
        for inp in self.inputs:
            entry = self.items.get(inp.name)
            if entry is not None and self._verified(entry, inp):
                self.summary.skipped += 1
            else:
                todo.append(inp)
        return todo

    def _verified(self, entry: dict, inp: JobInput) -> bool:
        if entry.get("state") != "done" or not entry.get("outputs"):
            return False
        if entry.get("source") != str(inp.path) or sha256_file(inp.path) != entry.get("sha256"):
            return False
        mask = str(inp.mask) if inp.mask is not None else None  # its own mask is part of the input
        if entry.get("mask") != mask or (mask is not None and sha256_file(inp.mask) != entry.get("mask_sha256")):
            return False
        return all(sha256_file(self.out / f) == h for f, h in entry["outputs"].items())

    def work_item(self, inp: JobInput) -> WorkItem:
        try:
            data = inp.path.read_bytes()
        except OSError:
            data = b""  # process_items reports it as an unreadable image
        mask = None
        if inp.mask is not None:
            try:
                mask = inp.mask.read_bytes()
            except OSError:
                mask = b""  # likewise, as an unreadable mask
        return WorkItem(inp.name, str(inp.path), data, mask, str(inp.mask) if inp.mask is not None else None)

    # -- recording -------------------------------------------------------------------------------
    def record(self, item: WorkItem, result: ItemResult, attempts: int = 1) -> None:
        """Write one finished input's outputs (atomically), then its manifest entry."""
        from .io import atomic_write
        old = self.items.get(item.name, {})
        entry = {"name": item.name, "source": item.source, "sha256": sha256_bytes(item.data),
                 "attempts": int(old.get("attempts", 0)) + attempts, "worker": result.worker}
        if item.mask is not None:
            entry.update(mask=item.mask_source, mask_sha256=sha256_bytes(item.mask))
        if result.ok:
            outputs = {}
            for fname, data in result.files.items():
                with _Writing(self.out / fname):
                    atomic_write(self.out / fname, lambda f, data=data: f.write(data))
                outputs[fname] = sha256_bytes(data)
            entry.update(state="done", error=None, outputs=outputs, metrics=result.record,
                         seconds=round(result.seconds, 4))
            self.summary.done += 1
            self.summary.notes += [n for n in result.notes if n not in self.summary.notes]
        else:
            for fname in old.get("outputs", {}):  # outputs of an earlier input under this name are stale
                (self.out / fname).unlink(missing_ok=True)
            entry.update(state="failed", error=result.error, outputs={}, metrics=None, seconds=0.0)
            self.summary.failed.append((item.name, result.error))
        self.items[item.name] = entry

    def save(self) -> None:
        from .io import write_json
        current = {i.name for i in self.inputs}
        for inp in self.inputs:  # inputs never attempted yet are listed as pending
            self.items.setdefault(inp.name, {"name": inp.name, "source": str(inp.path), "sha256": None,
                                             "state": "pending", "error": None, "outputs": {}, "metrics": None,
                                             "seconds": 0.0, "attempts": 0})
        order = [i.name for i in self.inputs] + [n for n in self.items if n not in current]
        with _Writing(self.out / MANIFEST):
            write_json({"version": MANIFEST_VERSION, "created": self.created,
                        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"), "prior_name": self.prior_name,
                        "settings": self.settings.fingerprint(),
                        "items": [self.items[n] for n in order]}, self.out / MANIFEST)
        with _Writing(self.out / "metrics.json"):
            write_json(self.records(), self.out / "metrics.json")

    def records(self) -> list[dict]:
        """Metrics records of this job's finished inputs, in input order."""
        return [self.items[i.name]["metrics"] for i in self.inputs
                if self.items.get(i.name, {}).get("state") == "done" and self.items[i.name].get("metrics")]

    def finish(self) -> Summary:
        """Rebuild metrics.json and summary.png from the manifest."""
        from .io import read_image, save_image, stack_rows
        self.save()
        sheets = []
        for i in self.inputs:
            entry = self.items.get(i.name, {})
            sheet = self.out / f"{i.name}_sheet.png"
            if entry.get("state") == "done" and sheet.exists():
                sheets.append(read_image(sheet)[0])
        if sheets:
            with _Writing(self.out / "summary.png"):
                save_image(stack_rows(sheets), self.out / "summary.png")
        self.summary.records = self.records()
        return self.summary


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def run_local(job: Job, todo: list[JobInput], batch: int, *, quiet: bool = False) -> None:
    """Process the pending inputs in this process, batch by batch, recording each as it finishes."""
    import sys

    from tqdm import tqdm

    plan = batches(todo, batch)
    for b, group in enumerate(plan):
        items = [job.work_item(inp) for inp in group]
        bar = None if quiet else tqdm(total=1, desc=f"batch {b + 1}/{len(plan)}", unit="step", dynamic_ncols=True,
                                      file=sys.stderr, mininterval=0.5)

        def progress(step, total, step_loss, bar=bar):
            if bar is None:
                return
            if step <= 1 and bar.n:  # the batch is retried image by image
                bar.reset(total)
            bar.total = total
            if step:  # step 0 is the start, before any step
                bar.update(1)
            bar.set_postfix(loss=f"{float(step_loss.mean()):.4f}", refresh=False)

        try:
            results = process_items(items, job.settings, progress)
        finally:
            if bar is not None:
                bar.close()
        for item, result in zip(items, results):
            job.record(item, result)
        job.save()
