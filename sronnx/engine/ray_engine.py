"""`sronnx upscale --engine ray`: the same planned jobs, run by Ray actors on one machine or
many.

The driver (the `sronnx upscale` process) plans the run as the local engine does and hands
each job (an input path, an output path) to an actor; the actor runs the one per-file path
of the local engine, `sronnx.engine.batch.process_one` (reading, model choice, tiles,
resampling, the atomic write), on the ONNX Runtime session(s) it opened once in its
`__init__`, and sends back the small `FileResult`. No pixels travel through Ray: every node
reads its inputs and writes its outputs itself, so inputs and outputs must be paths every
node sees alike (one machine, a shared or mounted file system, a mounted bucket).

A video is split instead: the driver plans its GOP-aligned segments and picks its model on
the first frame (`sronnx.engine.video.upscale_video`, on sessions of its own), the actors
make the segment files in the work folder beside the output with the same per-segment job
(`sronnx.io.video_segments.encode_segment`, on `segment_function`'s frame function, the one
a local run builds), and the driver joins them: the output is byte for byte the local one.

Why Ray core actors and not Ray Data: each file's result reaches the driver as soon as it
exists (the progress lines, one line per failed file, the --json report and the exit code
work as in the local engine), the number of files in flight is explicit (two per actor,
whatever the folder's size), a worker that dies costs a retry of the files it had (actor
restart, task retry) and no Ray Data read tasks compete with the actors for the CPUs.

Ray is imported only inside the functions here: importing this module needs no Ray.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sronnx.core import first_line
from sronnx.engine.batch import FileResult
from sronnx.engine.opening import ModelRequest, open_models
from sronnx.engine.planner import Job, OutputOptions
from sronnx.runtime import needs_gpu

INSTALL_HINT = "pip install 'sronnx[cluster]'"
NAMESPACE = "sronnx"  # where the actors are named (sronnx-upscale-RUN-K), for tools and tests
IN_FLIGHT_PER_ACTOR = 2  # one running, one queued at the actor while its result travels
CPU_PER_THREAD = 0.5  # Ray CPUs an actor asks for per ONNX Runtime thread (see README)
MAX_RESTARTS = 3  # an actor whose process dies is restarted this often...
MAX_TASK_RETRIES = 3  # ...and the files it had are retried on it this often


class EngineError(RuntimeError):
    """The Ray engine cannot start (Ray missing, no cluster at the address, no model on a
    worker); the message says why. The CLI exits 2 with it."""


@dataclass
class RayFileResult(FileResult):
    """A file's result with where it ran: the node (host name and Ray node id) and the
    worker process."""

    node: str | None = None
    node_id: str | None = None
    pid: int | None = None


@dataclass(frozen=True)
class Task:
    """One job as an actor gets it: `existing` is what to do with an output found when the
    file's turn comes (see `_existing_for`)."""

    job: Job
    existing: str


class UpscaleWorker:
    """The actor's class (wrapped by `ray.remote` at run time): one set of ONNX Runtime
    sessions, opened once, and `process_one` per call."""

    def __init__(self, spec: ModelRequest, opts: OutputOptions,
                 max_pixels: int | None) -> None:
        import ray

        self.models = open_models(spec).choice  # the files the driver pinned
        self.opts, self.max_pixels = opts, max_pixels
        self.current: str | None = None  # the input in progress, for `state`
        ctx = ray.get_runtime_context()
        self.where = (socket.gethostname(), ctx.get_node_id(), os.getpid())

    def process(self, task: Task) -> RayFileResult:
        """Upscale one file (never raises for a file's own fault: see `process_one`)."""
        from sronnx.engine.batch import process_one

        self.current = str(task.job.source)
        try:
            r = process_one(self.models, task.job, self.opts, existing=task.existing,
                            max_pixels=self.max_pixels)
        finally:
            self.current = None
        node, node_id, pid = self.where
        return RayFileResult(**asdict(r), node=node, node_id=node_id, pid=pid)

    def segment(self, job, spec):
        """Make one segment file of a video (`SegmentJob`) with the frame function `spec`
        (`FrameSpec`) describes; returns its `SegmentDone`. Raises VideoError for the
        video's own faults."""
        from sronnx.engine.video import segment_function
        from sronnx.io.video_segments import Coders, encode_segment

        self.current = f"{job.source} (segment {job.segment.index + 1})"
        try:
            if getattr(self, "_spec", None) != spec:
                self._fn, self._spec = segment_function(self.models, spec), spec
            if getattr(self, "_coders", None) is None:
                self._coders = Coders()  # this actor's two threads, for every segment
            return encode_segment(job, self._fn, coders=self._coders)
        finally:
            self.current = None

    def state(self) -> tuple[int, str, str | None]:
        """(process id, host name, input in progress or None); answered while a file runs
        (its own concurrency group)."""
        return self.where[2], self.where[0], self.current


def _existing_for(job: Job, existing: str) -> str:
    """The per-file rule for an output that exists, as the actor applies it. An output
    missing when the driver hands the file out can only appear later through this run
    itself (an attempt of this file on a worker that died after writing it): it is
    replaced ("overwrite"), so that a retried file is done, not skipped or refused. An
    output already there keeps the run's rule (--skip-existing: skipped)."""
    try:
        there = job.output.exists() or job.output.is_symlink()
    except OSError:
        there = False
    return existing if there else "overwrite"


def ray_available() -> bool:
    """Whether Ray can be imported here (the `cluster` extra is installed)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class RayEngine:
    """Start (or join) a Ray cluster, start the actors, run jobs with a bounded number in
    flight, stop. `address`: None starts a local cluster (shut down by `close`), "auto" or
    "HOST:PORT" joins a running one (`ray start --head`). `actors`: how many (None: one
    per `threads` cluster CPUs on CPUs, one per GPU on CUDA)."""

    spec: ModelRequest  # `OpenedModels.pinned()`: the driver's files, provider, threads
    opts: OutputOptions
    max_pixels: int | None = None
    address: str | None = None
    actors: int | None = None
    files: int = 1  # jobs in the run: no more actors than that
    quiet: bool = False  # Ray's own start-up warnings left out (--quiet prints only errors)
    handles: list = field(default_factory=list)
    started_ray: bool = False
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _models: object | None = None  # the driver's own sessions, opened for a video's start

    def start(self) -> None:
        """Connect, size and start the actors, and wait until each has its sessions open;
        raises EngineError when that cannot be done."""
        try:
            import ray
        except ImportError as exc:
            raise EngineError(f"--engine ray needs Ray: {INSTALL_HINT}") from exc
        import logging

        if not ray.is_initialized():
            kwargs: dict = {"include_dashboard": False, "log_to_driver": False,
                            "logging_level": logging.ERROR if self.quiet else logging.WARNING,
                            "namespace": NAMESPACE}
            main = threading.current_thread() is threading.main_thread()
            on_term = signal.getsignal(signal.SIGTERM) if main else None
            try:
                ray.init(address=self.address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"at {self.address}" if self.address else "locally"
                raise EngineError(f"cannot start or join a Ray cluster {where}: "
                                  f"{first_line(exc, 300)}") from exc
            finally:
                if on_term is not None:  # ray.init replaces it with sys.exit: keep the caller's
                    signal.signal(signal.SIGTERM, on_term)
            self.started_ray = True
        cuda = needs_gpu(self.spec.provider)  # CUDA or TensorRT: an NVIDIA GPU each
        resources = ray.cluster_resources()
        threads = self.spec.threads or 1
        cpus, gpus = resources.get("CPU", 0.0), int(resources.get("GPU", 0))
        if cuda and gpus < 1:
            self.close()
            raise EngineError(f"--provider {self.spec.provider}: the Ray cluster has no GPU")
        room = gpus if cuda else max(1, int(cpus) // threads)
        count = max(1, min(self.actors or room, self.files))
        options: dict = {"max_restarts": MAX_RESTARTS, "max_task_retries": MAX_TASK_RETRIES,
                         "concurrency_groups": {"state": 1},
                         "scheduling_strategy": "SPREAD"}
        if cuda:  # more actors than GPUs (--workers) share them: 1/2, 1/3... of one each
            options.update(num_gpus=1 / -(-count // gpus), num_cpus=CPU_PER_THREAD)
        else:
            options.update(num_cpus=CPU_PER_THREAD * threads)
        if count * options["num_cpus"] > cpus:  # they could never all start: say so now
            self.close()
            raise EngineError(f"{count} actors x {options['num_cpus']:g} CPU do not fit the "
                              f"Ray cluster's {cpus:g} CPUs: ask fewer --workers or --threads")
        cls = ray.remote(**options)(UpscaleWorker)
        self.handles = [cls.options(name=f"sronnx-upscale-{self.run_id}-{k}",
                                    namespace=NAMESPACE).remote(self.spec, self.opts,
                                                                self.max_pixels)
                        for k in range(count)]
        try:
            ray.get([worker_state(h) for h in self.handles])
        except Exception as exc:  # noqa: BLE001 - an actor's __init__ failed (model, provider)
            self.close()
            raise EngineError(f"a Ray worker could not open the model: {_cause(exc)}") from exc

    def run(self, jobs: list[Job], existing: str = "refuse",
            on_result: Callable[[FileResult], None] | None = None) -> list[FileResult]:
        """Run every job on the actors, at most IN_FLIGHT_PER_ACTOR per actor at a time;
        `on_result` sees each result as it arrives; results come back in job order. A file
        whose worker died more often than the retries allow fails with that reason; the
        others go on (on the actors left). On KeyboardInterrupt the files in flight are
        finished and reported, then it is raised again."""
        from sronnx.io import is_video_path

        videos = [i for i, j in enumerate(jobs) if is_video_path(j.source)]
        others = [j for i, j in enumerate(jobs) if i not in set(videos)]
        flight = _Flight(others, existing, on_result, list(self.handles))
        try:
            flight.fly()
        except KeyboardInterrupt:
            flight.land()  # the files in flight end and are reported
            raise
        done = iter(flight.in_order())
        made = {i: self._video(jobs[i], existing, on_result) for i in videos}
        return [made[i] if i in made else next(done) for i in range(len(jobs))]

    def _video(self, job: Job, existing: str,
               on_result: Callable[[FileResult], None] | None) -> FileResult:
        """One video: planned, joined and reported here, its segments made by the actors."""
        from sronnx.engine.batch import process_one

        if self._models is None:
            self._models = open_models(self.spec).choice
        r = process_one(self._models, job, self.opts, existing=existing,
                        max_pixels=self.max_pixels, video_runner=self._segments)
        if on_result is not None:
            on_result(r)
        return r

    def _segments(self, spec):
        """A `SegmentRunner` that hands a video's segments to the actors, at most
        IN_FLIGHT_PER_ACTOR each at a time, and yields each one's `SegmentDone` as it
        ends."""
        import ray

        from sronnx.io import VideoError
        from sronnx.io.video_segments import VideoInterrupted

        def run(segment_jobs: list):
            todo = iter(segment_jobs)
            flying: dict = {}

            def submit(actor) -> None:
                job = next(todo, None)
                if job is not None:
                    flying[actor.segment.remote(job, spec)] = (job, actor)

            for _ in range(IN_FLIGHT_PER_ACTOR):
                for actor in self.handles:
                    submit(actor)
            while flying:
                ready, _ = ray.wait(list(flying), num_returns=1)
                for ref in ready:
                    job, actor = flying.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        cause = getattr(exc, "cause", None)
                        if isinstance(cause, VideoError):
                            raise VideoError(str(cause)) from None
                        raise VideoInterrupted(
                            f"segment {job.segment.index + 1}: Ray: {_cause(exc)} (the "
                            "finished segments are kept: rerun to resume)") from None
                    submit(actor)
                    yield result
        return run

    def close(self) -> None:
        """Stop the actors, and the local cluster where this engine started one (a cluster
        joined with an address keeps running)."""
        try:
            import ray
        except ImportError:
            return
        for h in self.handles:
            try:
                ray.kill(h, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.handles = []
        if self.started_ray and ray.is_initialized():
            ray.shutdown()
            self.started_ray = False


class _Flight:
    """One run's files on the actors: at most IN_FLIGHT_PER_ACTOR each in flight, results by
    job index, actors whose process died (retries spent) left out."""

    def __init__(self, jobs: list[Job], existing: str,
                 on_result: Callable[[FileResult], None] | None, actors: list) -> None:
        self.todo = iter(enumerate(jobs))
        self.existing, self.on_result = existing, on_result
        self.alive = actors
        self.flying: dict = {}  # ObjectRef -> (index, job, actor)
        self.results: dict[int, FileResult] = {}

    def fly(self) -> None:
        """Hand out every job and collect every result."""
        import ray

        for _ in range(IN_FLIGHT_PER_ACTOR):
            for actor in self.alive:
                self.submit(actor)
        while self.flying:
            ready, _ = ray.wait(list(self.flying), num_returns=1, timeout=0.5)
            for ref in ready:
                actor = self.collect(ref)
                if actor is not None:
                    self.submit(actor)
                elif self.alive:  # its files go to the actors left
                    self.submit(self.alive[0])
            if not self.alive and not self.flying and next(self.todo, None) is not None:
                raise EngineError("every Ray worker died; rerun with --skip-existing")

    def land(self) -> None:
        """After a stop: collect the files in flight (a second Ctrl-C gives up on them)."""
        import ray

        try:
            while self.flying:
                ready, _ = ray.wait(list(self.flying), num_returns=1, timeout=0.5)
                for ref in ready:
                    self.collect(ref)
        except KeyboardInterrupt:
            pass

    def submit(self, actor) -> bool:
        """Give `actor` the next job; False when none is left."""
        item = next(self.todo, None)
        if item is None:
            return False
        i, job = item
        ref = actor.process.remote(Task(job, _existing_for(job, self.existing)))
        self.flying[ref] = (i, job, actor)
        return True

    def collect(self, ref) -> object:
        """Report the result of `ref`; the actor for the next job, or None when it died."""
        import ray

        i, job, actor = self.flying.pop(ref)
        try:
            self.emit(i, ray.get(ref))
        except ray.exceptions.RayActorError as exc:  # retries spent: this worker is gone
            if actor in self.alive:
                self.alive.remove(actor)
            self.emit(i, FileResult(str(job.source), str(job.output), "failed",
                                    error=f"the Ray worker died: {_cause(exc)}"))
            return None
        except ray.exceptions.RayError as exc:
            self.emit(i, FileResult(str(job.source), str(job.output), "failed",
                                    error=f"Ray: {_cause(exc)}"))
        return actor

    def emit(self, i: int, result: FileResult) -> None:
        self.results[i] = result
        if self.on_result is not None:
            self.on_result(result)

    def in_order(self) -> list[FileResult]:
        return [self.results[i] for i in sorted(self.results)]


def _cause(exc: BaseException) -> str:
    """The first line of what Ray says, without its traceback."""
    text = str(getattr(exc, "cause", None) or exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def remove_parts_of(jobs: list[Job]) -> list[Path]:
    """After a run, the temporary files that dead workers left beside the planned outputs
    (`.NAME.PID.sronnx-part`); parts of processes still running are left alone."""
    from sronnx.io import remove_stale_parts

    return remove_stale_parts({j.output.parent for j in jobs})


def worker_state(handle):
    """An ObjectRef to `UpscaleWorker.state` of the actor `handle`, in its own concurrency
    group: answered while the actor is inside a file."""
    return handle.state.options(concurrency_group="state").remote()
