"""Package faces that import on first use (PEP 562), so that a package's public names can be
listed in its `__init__` without importing every module behind them: `import sronnx.runtime`
does not load ONNX Runtime, `import sronnx.train` does not load torch, until a name is used.

    __getattr__, __dir__ = lazy_exports(__name__, {"load_model": "session", ...})

maps each public name to the module (relative to the package) that defines it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for `package`: an exported name is imported from
    `package.<module>` when first asked for and kept in the package's namespace; any other
    name raises AttributeError as usual."""
    table = dict(names)

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's own name
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*vars(importlib.import_module(package)), *table})

    return __getattr__, __dir__
