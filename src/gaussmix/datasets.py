"""Synthetic data sets for examples and tests, generated offline.

:func:`make_churn` draws a customer table for a subscription business (tenure, monthly charges,
usage, support calls, contract type) with a churn label. The columns depend on each other
through two latent traits, as in real telecom tables:

* ``engagement`` (standard normal) makes a customer choose longer contracts, stay longer, use
  the service more and call support less;
* ``price_sensitivity`` (standard normal) pushes towards cheaper plans and, given the bill,
  towards leaving.

Marginals follow what public telecom churn tables show: a contract mix of about 55% monthly,
25% one-year and 20% two-year; tenure in months from 1 to 72, short on monthly contracts
(median about a year) and long on two-year ones; monthly charges with a mode for basic plans
near 20-25 and a broad mass at 60-100 for bundles; usage log-normal and increasing with the
plan; support calls a count with most customers at 0-2. Churn follows a logistic model in the
contract, tenure, bill, support calls and the two latent traits (which are not returned), with
a base rate of about a quarter, so that no classifier can read it off the columns exactly.
"""
from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_churn", "CHURN_FEATURES"]

#: Column names of :func:`make_churn`'s table, in order.
CHURN_FEATURES = ("tenure_months", "monthly_charges", "usage_gb", "support_calls",
                  "contract_month_to_month", "contract_one_year", "contract_two_year")


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def make_churn(n_samples=5000, *, random_state=None, as_frame=False):
    """A customer table with a churn label (see the module docstring for the model).

    Parameters
    ----------
    n_samples : int, default=5000
        Number of customers.
    random_state : int, RandomState instance or None, default=None
    as_frame : bool, default=False
        Return a pandas DataFrame and Series (pandas must be installed).

    Returns
    -------
    X : ndarray of shape (n_samples, 7) or DataFrame
        Columns :data:`CHURN_FEATURES`: tenure in months (1..72), monthly charges, monthly
        usage in GB, support calls in the last quarter, and the contract type one-hot.
    y : ndarray of shape (n_samples,) of int or Series
        1 for customers who churned.

    Examples
    --------
    >>> from gaussmix.datasets import make_churn
    >>> X, y = make_churn(1000, random_state=0)
    >>> X.shape, set(y.tolist())
    ((1000, 7), {0, 1})
    >>> bool((X[:, 4:].sum(axis=1) == 1).all())
    True
    """
    if (isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral)
            or n_samples < 1):
        raise ValueError(f"'n_samples' must be an int >= 1; got {n_samples!r}.")
    rng = check_random_state(random_state)
    n = int(n_samples)
    engagement = rng.normal(size=n)
    price = rng.normal(size=n)

    # contract: multinomial logit, engaged customers commit for longer
    logits = np.column_stack([np.zeros(n), -0.9 + 0.8 * engagement,
                              -1.3 + 1.2 * engagement - 0.3 * price])
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    contract = (rng.uniform(size=(n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    contract = np.minimum(contract, 2)

    # tenure: gamma with a contract-dependent scale, longer for engaged customers
    scale = np.array([8.0, 20.0, 32.0])[contract] * np.exp(0.25 * engagement)
    tenure = np.clip(np.ceil(rng.gamma(1.6, scale)), 1, 72)

    # plan tier (basic, standard, bundle) and its bill
    tier_logits = np.column_stack([np.zeros(n), 0.6 + 0.3 * engagement - 0.6 * price,
                                   0.2 + 0.6 * engagement - 0.9 * price])
    q = np.exp(tier_logits - tier_logits.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    tier = np.minimum((rng.uniform(size=(n, 1)) > np.cumsum(q, axis=1)).sum(axis=1), 2)
    charges = (np.array([22.0, 60.0, 90.0])[tier]
               + rng.normal(size=n) * np.array([2.5, 8.0, 9.0])[tier])
    charges = np.clip(charges, 18.0, 120.0)

    # usage grows with the plan and engagement (log-normal)
    usage = np.exp(1.2 + 0.02 * charges + 0.35 * engagement + rng.normal(0, 0.45, n))

    # support calls: more for disengaged customers and on the bundles (more to go wrong)
    rate = np.exp(-0.1 - 0.45 * engagement + 0.25 * (tier == 2) - 0.004 * tenure)
    calls = rng.poisson(rate).astype(np.float64)

    # churn: logistic in the observed columns and the latent traits
    z = (-2.6 + 1.4 * (contract == 0) - 0.9 * (contract == 2) - 0.9 * np.log(tenure / 12.0)
         + 0.022 * (charges - 60.0) * (1.0 + 0.5 * (price > 0)) + 0.45 * calls
         - 0.5 * engagement + 0.3 * price)
    y = (rng.uniform(size=n) < _sigmoid(z)).astype(int)

    onehot = np.eye(3)[contract]
    X = np.column_stack([tenure, np.round(charges, 2), np.round(usage, 2), calls, onehot])
    if as_frame:
        import pandas as pd
        return pd.DataFrame(X, columns=list(CHURN_FEATURES)), pd.Series(y, name="churn")
    return X, y
