"""Student t CDF and quantiles against published table values (the seed-aware intervals rest on them)."""
from __future__ import annotations

import math

import pytest

from fgkf_core.student_t import cdf, quantile, regularized_beta


@pytest.mark.parametrize("df, q975, q80", [
    (1, 12.7062, 1.3764), (2, 4.3027, 1.0607), (4, 2.7764, 0.9410), (5, 2.5706, 0.9195),
    (10, 2.2281, 0.8791), (30, 2.0423, 0.8538), (math.inf, 1.9600, 0.8416),
])
def test_quantiles_match_the_t_table(df, q975, q80):
    assert quantile(0.975, df) == pytest.approx(q975, abs=1e-4)
    assert quantile(0.8, df) == pytest.approx(q80, abs=1e-4)


def test_cdf_is_symmetric_and_inverts_the_quantile_at_non_integer_df():
    assert cdf(0.0, 3) == 0.5
    assert cdf(-1.3, 5.7) + cdf(1.3, 5.7) == pytest.approx(1.0, abs=1e-14)
    for p in (0.01, 0.2, 0.5, 0.9, 0.999):
        assert cdf(quantile(p, 5.7), 5.7) == pytest.approx(p, abs=1e-10)
    assert quantile(0.975, 5.7) < quantile(0.975, 5.0)  # heavier tails with fewer df
    assert quantile(0.975, 1e7) == pytest.approx(quantile(0.975, math.inf), abs=1e-6)


def test_regularized_beta_known_values():
    assert regularized_beta(0.5, 2.0, 2.0) == pytest.approx(0.5)
    assert regularized_beta(0.3, 1.0, 1.0) == pytest.approx(0.3)  # uniform
    assert regularized_beta(0.2, 2.0, 3.0) == pytest.approx(0.1808)  # 1 - (1-x)^3 (1+3x) at x = 0.2


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(ValueError, match="degrees of freedom must be > 0"):
        quantile(0.9, 0)
    with pytest.raises(ValueError, match="0 < p < 1"):
        quantile(1.0, 4)
    with pytest.raises(ValueError, match="0 <= x <= 1"):
        regularized_beta(1.5, 1.0, 1.0)
