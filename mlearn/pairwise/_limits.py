"""Limits of the floating range that the kernels and the reference share.

A leaf module: the backends, the operands and the reference all import it.
"""

#: Least sum of squares (or of p-th powers) that cannot have lost a term to
#: underflow beyond round-off, by itemsize: any lost terms are each below the
#: smallest normal number (float64 2**-1022, float32 2**-126), d of them
#: under d * 2**-104 (float64) or d * 2**-48 (float32) of this bound. Sums
#: below it (and overflowed ones) are recomputed from rescaled values.
POWER_SUM_LOW = {8: 2.0**-918, 4: 2.0**-78}


def check_kl_floor(floor, eps):
    """Refuse kl's smoothing when ``eps / sum`` underflowed to zero in some row."""
    if not bool((floor > 0).all()):
        raise ValueError(
            f"metric 'kl' cannot smooth these histograms with eps={eps!r}: eps is "
            "so small beside a row's sum that eps / sum underflows to zero; use a "
            "larger eps (or histograms of smaller magnitude)"
        )
