"""The Ray engine: a job's pending inputs spread over the workers of a Ray cluster.

``ganprior TASK INPUT... --out DIR --engine ray [--address ADDR]`` (``pip install 'ganprior[ray]'``).
The driver (this process) keeps the job exactly as the local engine does (``ganprior.jobs``): it
plans the same batches, ships each batch's input bytes to a Ray task that runs
``jobs.process_items`` (one GPU per task where the cluster has GPUs), and writes the outputs and
``DIR/manifest.json`` as results arrive, so killing the driver resumes like the local engine.

Retries are the driver's: tasks run with ``max_retries=0`` and a task lost with its worker or node
is resubmitted (up to ``MAX_ATTEMPTS`` times in all) and counted in the manifest's ``attempts``.
Results are keyed by input name and recorded once, so a resubmitted batch never writes twice.
Workers read no paths of the driver's machine: input, mask and checkpoint bytes travel with the
tasks (a named prior is fetched by each worker from the registry or its cache).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from .errors import GanpriorError
from .jobs import Job, JobInput, JobSettings, batches, one_line, process_items

MAX_ATTEMPTS = 3  # per batch: the first try and two resubmissions after a lost worker
TASK_NAME = "ganprior_batch"  # the workers' process title while they run a batch ("ray::ganprior_batch")


def require_ray():
    """The ``ray`` module, or a one-line error saying how to get it."""
    try:
        import ray
    except ImportError:
        raise GanpriorError("--engine ray needs Ray: pip install 'ganprior[ray]'") from None
    return ray


def _batch_task(items, settings: JobSettings, threads: int):
    """Runs on a worker: one batch through the shared work function."""
    import torch
    torch.set_num_threads(max(1, threads))
    return process_items(items, settings)


class Cluster:
    """A connection to a Ray cluster and where its tasks run: ``device`` (``cuda`` when it has GPUs,
    unless ``--device`` said otherwise) and ``slots`` (tasks that run at once)."""

    def __init__(self, address: str | None = None, device: str | None = None, *, quiet: bool = False,
                 cpus_per_task: float = 1):
        ray = self.ray = require_ray()
        self.started = False
        if not ray.is_initialized():
            os.environ.setdefault("RAY_DEDUP_LOGS", "0")
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=not quiet,
                         logging_level="ERROR", configure_logging=True)
            except Exception as e:  # noqa: BLE001 - a cluster that cannot be reached is a user error
                raise GanpriorError(f"cannot start or join a Ray cluster{f' at {address}' if address else ''}: "
                                    f"{one_line(e)}") from None
            self.started = True
        try:
            resources = ray.cluster_resources()
            gpus = int(resources.get("GPU", 0))
            if device is None:
                device = "cuda" if gpus else "cpu"
            elif device.startswith("cuda") and not gpus:
                raise GanpriorError(f"--device {device}: the Ray cluster has no GPU")
        except BaseException:
            self.close()
            raise
        self.use_gpu = device.startswith("cuda")
        self.device = "cuda" if self.use_gpu else device  # each task sees only its own GPU
        self.cpus_per_task = cpus_per_task
        self.slots = gpus if self.use_gpu else max(1, int(resources.get("CPU", 1) // cpus_per_task))

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_ray(job: Job, todo: list[JobInput], batch: int, *, cluster: Cluster | None = None, address: str | None = None,
            device: str | None = None, quiet: bool = False, max_in_flight: int | None = None) -> None:
    """Process ``todo`` on a Ray cluster (``cluster``, or one joined at ``address``, or a local one
    when that is None and Ray is not yet initialised), recording each batch in ``job`` as it finishes."""
    if cluster is None:
        with Cluster(address, device, quiet=quiet) as cluster:
            return run_ray(job, todo, batch, cluster=cluster, quiet=quiet, max_in_flight=max_in_flight)
    from tqdm import tqdm

    ray = cluster.ray
    settings = job.settings
    settings = dataclasses.replace(
        settings, device=cluster.device,
        prior_data=Path(settings.prior).read_bytes() if Path(settings.prior).is_file() else None)
    use_gpu, slots, cpus_per_task = cluster.use_gpu, cluster.slots, cluster.cpus_per_task
    max_in_flight = max_in_flight or 2 * slots
    remote = ray.remote(_batch_task).options(
        name=TASK_NAME, num_gpus=1 if use_gpu else 0, num_cpus=cpus_per_task, max_retries=0)
    settings_ref = ray.put(settings)

    plan = batches(todo, batch)
    queue = list(range(len(plan)))
    tries = [0] * len(plan)
    in_flight: dict = {}  # ObjectRef -> (batch index, its WorkItems)
    finished: set[str] = set()
    bar = None if quiet else tqdm(total=len(todo), desc=f"ray: {slots} {'GPU' if use_gpu else 'CPU'} slots",
                                  unit="img", dynamic_ncols=True, file=sys.stderr, mininterval=0.5)

    def submit(b: int, items=None) -> None:
        items = items or [job.work_item(inp) for inp in plan[b]]
        tries[b] += 1
        in_flight[remote.remote(items, settings_ref, int(cpus_per_task))] = (b, items)

    try:
        while queue or in_flight:
            while queue and len(in_flight) < max_in_flight:
                submit(queue.pop(0))
            done, _ = ray.wait(list(in_flight), num_returns=1)
            ref = done[0]
            b, items = in_flight.pop(ref)
            try:
                results = ray.get(ref)
            except Exception as e:  # noqa: BLE001 - the task was lost (worker or node died): resubmit
                if tries[b] < MAX_ATTEMPTS:
                    submit(b, items)
                    continue
                from .jobs import ItemResult
                results = [ItemResult(it.name, error=f"lost {tries[b]} times on Ray workers: {one_line(e)}")
                           for it in items]
            for item, result in zip(items, results):
                if item.name in finished:  # never write one input twice
                    continue
                finished.add(item.name)
                job.record(item, result, attempts=tries[b])
            job.save()
            if bar is not None:
                bar.update(len(items))
    finally:
        if bar is not None:
            bar.close()
        for ref in in_flight:
            ray.cancel(ref, force=True)
