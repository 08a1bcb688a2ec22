"""Device simulators: patient physiology, clinical scenarios, store-and-forward, load mode."""

from device_simulators.load import LoadResult, load_device_ids, run_load

__all__ = ["LoadResult", "load_device_ids", "run_load"]
