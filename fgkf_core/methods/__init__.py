"""Method registry: importing this package registers every method module."""
from . import basic, fgkf, kd  # noqa: F401  (registration side effects)
from . import amcl, nal, peng_dredze, pretrained_embedding  # noqa: F401  (baselines of Table 3)
from .base import METHODS, SOURCE, TARGET, BuildContext, Method, System, TaggerPair, get_method, register

__all__ = ["METHODS", "SOURCE", "TARGET", "BuildContext", "Method", "System", "TaggerPair", "get_method", "register"]
