"""fgkf_core: a PyTorch reproduction of FGKF (Yang et al., EMNLP 2019) and its baselines."""
from .config import PROFILES, Config, resolve
from .methods import METHODS, get_method
from .runs import RunSpec, load_records, run, sweep
from .tasks import TASKS, custom_task, get_task, load_task

__all__ = [
    "PROFILES", "Config", "resolve", "METHODS", "get_method", "RunSpec", "load_records", "run", "sweep",
    "TASKS", "custom_task", "get_task", "load_task",
]
