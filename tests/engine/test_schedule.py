"""The schedulers on their own (`sronnx.engine.schedule`): order, bounded windows, every
result reported once, and what a stop leaves (real threads; the stages are plain functions
that sleep, so the overlap is real)."""

from __future__ import annotations

import _thread
import signal
import threading
import time

import pytest

from sronnx.engine.schedule import run_staged, run_whole_files


class Gauge:
    """How many calls are inside at once (the most seen), thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_whole_files_keep_order_and_the_window() -> None:
    inside, seen = Gauge(), []

    def process(job: int) -> int:
        with inside:
            time.sleep(0.002 * (job % 3))
        return job * 10

    results = run_whole_files(list(range(30)), process, 4, seen.append)
    assert results == [j * 10 for j in range(30)]
    assert sorted(seen) == results  # each reported once, as it finished
    assert 2 <= inside.most <= 4


def test_staged_bounds_each_side_and_runs_the_model_in_order() -> None:
    decoding, encoding, ahead = Gauge(), Gauge(), []
    order: list[int] = []
    started: set[int] = set()

    def decode(job: int) -> int:
        with decoding:
            started.add(job)
            time.sleep(0.003)
        return job

    def model(job: int, submit: object) -> int:
        order.append(job)
        ahead.append(len(started) - len(order))  # decoded or decoding, not yet modelled
        return job

    def encode(job: int) -> str:
        with encoding:
            time.sleep(0.004)
        return f"out{job}"

    seen: list[str] = []
    results = run_staged(list(range(40)), decode, model, encode, 3, seen.append)
    assert results == [f"out{j}" for j in range(40)] and sorted(seen) == sorted(results)
    assert order == list(range(40))
    assert max(ahead) <= 3  # never more than `coders` files decoded ahead of the model
    assert decoding.most + encoding.most >= 2  # coding overlapped
    assert encoding.most <= 3


def test_a_stop_in_the_model_stage_reports_what_was_being_encoded() -> None:
    """As Ctrl-C: the files being encoded finish and are reported; nothing after the
    interrupted file is modelled or encoded; the interrupt is raised again."""
    seen: list[int] = []
    encoded: list[int] = []

    def model(job: int, submit: object) -> int:
        if job == 5:
            raise KeyboardInterrupt
        return job

    def encode(job: int) -> int:
        time.sleep(0.01)
        encoded.append(job)
        return job

    with pytest.raises(KeyboardInterrupt):
        run_staged(list(range(20)), lambda j: j, model, encode, 2, seen.append)
    assert sorted(seen) == sorted(encoded) == list(range(5))


def test_ctrl_c_while_files_run_reports_every_file_started() -> None:
    """A real interrupt of the calling thread (as Ctrl-C: `_thread.interrupt_main`) while two
    files run: both finish and are reported, no file starts after it."""
    seen: list[int] = []
    started: list[int] = []
    lock = threading.Lock()

    def process(job: int) -> int:
        with lock:
            started.append(job)
        if job == 3:
            _thread.interrupt_main()
        time.sleep(0.05)
        return job

    # Python's own Ctrl-C handler, whatever this process inherited (a background job starts
    # with SIGINT ignored, and interrupt_main then does nothing)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_whole_files(list(range(50)), process, 2, seen.append)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sorted(seen) == sorted(started)  # every file started was finished and reported
    assert max(started) <= 4  # the stop came while job 3 ran: at most one more had started


def test_a_fault_of_a_stage_is_raised_after_the_files_in_flight() -> None:
    done: list[int] = []

    def decode(job: int) -> int:
        if job == 3:
            raise RuntimeError("a bug")
        return job

    with pytest.raises(RuntimeError, match="a bug"):
        run_staged(list(range(10)), decode, lambda j, _: j, lambda j: j, 2, done.append)
    assert sorted(done) == [0, 1, 2]


def test_an_encode_may_wait_for_pixel_work_its_model_stage_handed_to_the_coders() -> None:
    """The model stage hands each file's pixel work to the coder threads; the file's encode
    waits for it. With one coder thread too (nothing deadlocks: calls run in submission
    order), every file's work is done before its encode reads it."""
    def part(job: int, k: int) -> int:
        time.sleep(0.002)
        return job * 10 + k

    def model(job: int, submit) -> tuple[int, list]:  # noqa: ANN001
        return job, [submit(part, job, k) for k in range(3)]

    for coders in (1, 3):

        results = run_staged(list(range(12)), lambda j: j, model,
                             lambda work: [f.result() for f in work[1]], coders)
        assert results == [[j * 10, j * 10 + 1, j * 10 + 2] for j in range(12)]
