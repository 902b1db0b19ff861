"""Student's t distribution (CDF and quantile, any real df > 0) for the seed-aware intervals of `stats`: the
standard library has only the normal and scipy is not a dependency. CDF through the regularized incomplete beta
function (continued fraction, Numerical Recipes §6.4); quantile by bisection on the CDF."""
from __future__ import annotations

import math
from statistics import NormalDist

_TINY = 1e-300  # keeps the continued fraction's denominators away from 0 (modified Lentz)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of I_x(a, b), converging for x < (a + 1) / (a + b + 2)."""
    def clamp(v: float) -> float:
        return v if abs(v) > _TINY else _TINY

    c, d = 1.0, 1.0 / clamp(1.0 - (a + b) * x / (a + 1.0))
    h = d
    for m in range(1, 500):
        for aa in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),  # even step
                   -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):  # odd step
            d = 1.0 / clamp(1.0 + aa * d)
            c = clamp(1.0 + aa / c)
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, for 0 <= x <= 1 and a, b > 0."""
    if not (a > 0 and b > 0 and 0.0 <= x <= 1.0):
        raise ValueError(f"expected 0 <= x <= 1 and a, b > 0, got x={x}, a={a}, b={b}")
    if x in (0.0, 1.0):
        return x
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _check_df(df: float) -> None:
    if not df > 0:
        raise ValueError(f"degrees of freedom must be > 0 (or math.inf for the normal), got {df}")


def cdf(t: float, df: float) -> float:
    """P(T <= t) for T ~ Student t with `df` degrees of freedom (df = inf: the standard normal)."""
    _check_df(df)
    if math.isinf(df):
        return NormalDist().cdf(t)
    tail = 0.5 * regularized_beta(df / (df + t * t), df / 2.0, 0.5)  # P(T > |t|)
    return 1.0 - tail if t > 0 else tail


def quantile(p: float, df: float) -> float:
    """The t with cdf(t, df) = p, for 0 < p < 1 (to ~1e-12 relative)."""
    _check_df(df)
    if not 0.0 < p < 1.0:
        raise ValueError(f"expected 0 < p < 1, got {p}")
    if math.isinf(df):
        return NormalDist().inv_cdf(p)
    if p < 0.5:
        return -quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    while hi - lo > 1e-12 * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cdf(mid, df) < p else (lo, mid)
    return 0.5 * (lo + hi)
