"""Datasets for the ML layer tests, generated locally or shipped with scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, make_regression


@pytest.fixture(scope="session")
def breast_cancer_frame() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    return frame.rename(columns={"target": "diagnosis"})


@pytest.fixture(scope="session")
def breast_cancer_csv(tmp_path_factory: pytest.TempPathFactory, breast_cancer_frame) -> Path:
    path = tmp_path_factory.mktemp("data") / "breast_cancer.csv"
    breast_cancer_frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def regression_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, y = make_regression(n_samples=300, n_features=5, noise=5.0, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(5)]).assign(price=y)
    path = tmp_path_factory.mktemp("data") / "prices.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def churn_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Customers whose churn depends mostly on a string column, ``plan``, with gaps."""
    rng = np.random.default_rng(0)
    n = 400
    plan = rng.choice(["free", "pro", "team"], size=n)
    usage = rng.normal(10, 3, size=n)
    churned = np.where(plan == "free", "yes", "no")
    frame = pd.DataFrame({"plan": plan, "usage": usage, "churned": churned})
    frame.loc[::17, "usage"] = np.nan
    frame.loc[::23, "plan"] = None
    path = tmp_path_factory.mktemp("data") / "churn.csv"
    frame.to_csv(path, index=False)
    return path
