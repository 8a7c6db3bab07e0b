"""How a batch's files share the machine, on `concurrent.futures`: bounded windows of work in
flight, no polling, results in job order. Generic over the per-file stages, so the local
engine and its tests use the same code; what a stage does is `sronnx.engine.batch`'s.

Two layouts:

* `run_whole_files`: `workers` threads each take whole files (decode, model, encode) in turn.
  The CPU default: with one ONNX Runtime thread per worker, no core waits for another at every
  layer (`bench/e2e.py`).
* `run_staged`: one model stage (the calling thread) fed by `coders` threads that decode
  ahead and encode behind, at most `coders` files on each side. For a provider whose model
  stage is much faster than coding (a GPU: about 1 ms per 1080p output against 0.15 s to
  encode it as PNG on one core), so that every core codes.

Ctrl-C (KeyboardInterrupt, or SIGTERM turned into one) in the calling thread: no new file is
started; the files already through the model (or, with whole files, being processed) are
encoded, written and reported; then the interrupt is raised again. The file inside the model
stage at that moment, and those decoded ahead of it, are dropped (they have no output yet).
An exception other than a file's own fault (those come back as results) stops the run the
same way and is raised.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

__all__ = ["run_staged", "run_whole_files"]

J = TypeVar("J")  # a job
W = TypeVar("W")  # a file between stages
R = TypeVar("R")  # a file's result


class _Reporter(Generic[R]):
    """Collects results by job index and hands each to `on_result` once, in the calling
    thread; after `on_result` raised, no further result is handed to it."""

    def __init__(self, on_result: Callable[[R], None] | None) -> None:
        self.on_result = on_result
        self.results: dict[int, R] = {}
        self.failed = False

    def add(self, index: int, result: R) -> None:
        self.results[index] = result
        if self.on_result is None or self.failed:
            return
        try:
            self.on_result(result)
        except BaseException:
            self.failed = True
            raise

    def in_order(self) -> list[R]:
        return [self.results[i] for i in sorted(self.results)]


def _finish(futures: Iterable[Future], index: dict[Future, int], report: _Reporter, *,
            cancel: bool) -> None:
    """After a stop: wait for `futures` (with `cancel`, only those already running; the
    others are cancelled), and report the results of those that ended without an error."""
    running = [f for f in futures if not (cancel and f.cancel())]
    wait(running)
    for f in running:
        if f.exception() is None and not report.failed:
            report.add(index[f], f.result())


def run_whole_files(jobs: Sequence[J], process: Callable[[J], R], workers: int,
                    on_result: Callable[[R], None] | None = None) -> list[R]:
    """`process` every job on `workers` threads, at most `workers` files in flight; each
    result goes to `on_result` (in the calling thread) as its file finishes. Returns the
    results in job order."""
    report: _Reporter[R] = _Reporter(on_result)
    pending: dict[Future, int] = {}
    todo = iter(enumerate(jobs))
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sronnx-worker")
    try:
        while True:
            for index, job in todo:
                pending[pool.submit(process, job)] = index
                if len(pending) >= workers:
                    break
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=pending.__getitem__):
                report.add(pending.pop(future), future.result())
    except BaseException:
        _finish(list(pending), pending, report, cancel=True)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return report.in_order()


#: hands a call to the coder threads: submit(fn, *args) -> Future of fn(*args)
Submit = Callable[..., Future]


def run_staged(jobs: Sequence[J], decode: Callable[[J], W], model: Callable[[W, Submit], W],
               encode: Callable[[W], R], coders: int,
               on_result: Callable[[R], None] | None = None) -> list[R]:
    """Each job through `decode` (on `coders` threads, at most `coders` files ahead of the
    model), `model` (in the calling thread, in job order) and `encode` (on the same threads,
    at most `coders` files behind it). Results go to `on_result` as their encodes finish and
    come back in job order.

    `model(work, submit)` may hand pixel work of its file to the coder threads with
    `submit(fn, *args)` (a Future); an `encode` may wait for what its file's `model` submitted
    (the threads take calls in submission order, so whatever an encode waits for was taken
    before it), never for anything submitted later."""
    coders = max(1, coders)
    report: _Reporter[R] = _Reporter(on_result)
    decoding: deque[tuple[int, Future]] = deque()
    encoding: dict[Future, int] = {}
    todo = iter(enumerate(jobs))
    pool = ThreadPoolExecutor(max_workers=coders, thread_name_prefix="sronnx-coder")

    def decode_ahead() -> None:
        while len(decoding) < coders:
            item = next(todo, None)
            if item is None:
                return
            decoding.append((item[0], pool.submit(decode, item[1])))

    def collect(done: Iterable[Future]) -> None:
        for future in sorted(done, key=encoding.__getitem__):
            report.add(encoding.pop(future), future.result())

    try:
        decode_ahead()
        while decoding:
            index, decoded = decoding.popleft()
            work = decoded.result()
            decode_ahead()
            work = model(work, pool.submit)
            while len(encoding) >= coders:
                collect(wait(encoding, return_when=FIRST_COMPLETED)[0])
            encoding[pool.submit(encode, work)] = index
            collect([f for f in list(encoding) if f.done()])
        collect(wait(encoding)[0])
    except BaseException:
        for _, future in decoding:
            future.cancel()
        _finish(list(encoding), encoding, report, cancel=False)  # every modelled file
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return report.in_order()
