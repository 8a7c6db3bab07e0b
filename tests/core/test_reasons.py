"""sronnx.core.reasons.first_line: the one line of an exception a report shows. Before it, some
call sites took `str(exc).splitlines()[0]`, an IndexError on an empty message."""

from __future__ import annotations

from sronnx.core.reasons import first_line


def test_first_line_of_a_page():
    exc = RuntimeError("\n  \x1b[1;31m[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION\x1b[m  \n"
                       "Falling back to ['CPUExecutionProvider'] and retrying.\nmore")
    assert first_line(exc) == "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION"


def test_empty_or_blank_message_gives_the_type():
    assert first_line(ValueError()) == "ValueError"
    assert first_line(MemoryError("\n \n")) == "MemoryError"


def test_limit():
    assert first_line(OSError("x" * 500), 120) == "x" * 120
    assert len(first_line(OSError("y" * 500))) == 200
