"""A dispatch mode that fails a test when code makes the host wait for the device."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

# ops whose result the host must read (a scalar) or whose output shape depends on the data:
# on CUDA each one waits for every kernel queued before it
READS_DEVICE = {
    aten._local_scalar_dense.default,  # .item(), float(t), int(t), bool(t), `if t:`
    aten.is_nonzero.default,
    aten.nonzero.default,
    aten.masked_select.default,
}
COPIES = {aten._to_copy.default, aten.copy_.default}


def _boolean_index(func, args) -> bool:
    """t[mask]: the result's size is the mask's count, which the host must read."""
    if func not in (aten.index.Tensor, aten.index_put_.default, aten.index_put.default):
        return False
    return any(i is not None and i.dtype == torch.bool for i in args[1])


class HostSync(AssertionError):
    """The code under test synchronised with the device."""


class SyncGuard(TorchDispatchMode):
    """Raise `HostSync` on reads of device values and device-to-host copies; count host-to-
    device copies. On the CPU path the CPU plays the device: the same ops would wait for the
    GPU there. Where CUDA exists, its own sync debug mode is set to "error" as well.

    `counting=True` counts reads (in `reads`) instead of raising, and leaves CUDA's mode alone.
    """

    def __init__(self, counting: bool = False) -> None:
        super().__init__()
        self.counting = counting
        self.reads = 0
        self.host_to_device = 0
        self._cuda_mode = 0

    def _cuda_checks(self) -> bool:
        return torch.cuda.is_available() and not self.counting

    def __enter__(self):
        if self._cuda_checks():
            self._cuda_mode = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode("error")
        return super().__enter__()

    def __exit__(self, *exc):
        if self._cuda_checks():
            torch.cuda.set_sync_debug_mode(self._cuda_mode)
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in READS_DEVICE or _boolean_index(func, args):
            if not self.counting:
                raise HostSync(f"{func} makes the host wait for the device")
            self.reads += 1
        out = func(*args, **kwargs)
        if func in COPIES:
            source = args[1] if func is aten.copy_.default else args[0]
            target = args[0] if func is aten.copy_.default else out
            if source.device != target.device:
                if target.device.type == "cpu":
                    raise HostSync(f"{func} copies from {source.device} to the host")
                self.host_to_device += 1
        return out
