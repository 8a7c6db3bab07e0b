"""Models on ONNX Runtime: opening a file as a session on a provider (`load_model`,
`open_model`; the providers by name: `providers`), probing what it needs, adapting tensors
to it, the memory limit for models. No torch.

The names below are the package's public face: scripts and other packages import them from
here, and the modules behind them may move."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sronnx.core import lazy_exports

#: public name -> the module that defines it (imported on first use)
_EXPORTS = {
    "LoadedModel": "session",
    "Overrides": "probe",
    "PROVIDERS": "providers",
    "PROVIDER_CHOICES": "providers",
    "ProfileFn": "session",
    "ProviderError": "session",
    "ShapeProfile": "providers",
    "available_cpus": "session",
    "cuda_unavailable_reason": "session",
    "defaults_key": "providers",
    "intended_provider": "session",
    "load_model": "session",
    "memory_refusal": "memory",
    "model_memory_limit": "memory",
    "needs_gpu": "providers",
    "open_model": "session",
    "provider_options": "providers",
    "provider_unavailable_reason": "providers",
    "runs_on_cpu": "providers",
    "session_options": "session",
}

__all__ = [
    "LoadedModel",
    "Overrides",
    "PROVIDERS",
    "PROVIDER_CHOICES",
    "ProfileFn",
    "ProviderError",
    "ShapeProfile",
    "available_cpus",
    "cuda_unavailable_reason",
    "defaults_key",
    "intended_provider",
    "load_model",
    "memory_refusal",
    "model_memory_limit",
    "needs_gpu",
    "open_model",
    "provider_options",
    "provider_unavailable_reason",
    "runs_on_cpu",
    "session_options",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from sronnx.runtime.memory import (
        memory_refusal,
        model_memory_limit,
    )
    from sronnx.runtime.probe import (
        Overrides,
    )
    from sronnx.runtime.providers import (
        PROVIDER_CHOICES,
        PROVIDERS,
        ShapeProfile,
        defaults_key,
        needs_gpu,
        provider_options,
        provider_unavailable_reason,
        runs_on_cpu,
    )
    from sronnx.runtime.session import (
        LoadedModel,
        ProfileFn,
        ProviderError,
        available_cpus,
        cuda_unavailable_reason,
        intended_provider,
        load_model,
        open_model,
        session_options,
    )
