"""Method registry: importing this package registers every method module."""
from . import basic, fgkf, kd  # noqa: F401  (registration side effects)
from .base import METHODS, BuildContext, Method, System, get_method, register

__all__ = ["METHODS", "BuildContext", "Method", "System", "get_method", "register"]
