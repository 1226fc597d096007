"""scikit-learn's estimator checks for MPCLDistributionRegressor."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from mpcl_sklearn.models import MPCLDistributionRegressor

EXPECTED_FAILED = {
    "check_regressors_no_decision_function": (
        "distribution regressors expose predict_proba (= predict) on purpose"
    ),
}


def _small():
    return MPCLDistributionRegressor(
        d_model=8,
        prototypes_per_emotion=2,
        betas=(1.0, 4.0),
        n_memory=2,
        max_epochs=3,
        batch_size=32,
        random_state=0,
        # the checks feed arbitrary real targets (negative ones in check_regressor_multioutput):
        # "softmax" reads each row as unnormalised scores
        normalize_y="softmax",
    )


@parametrize_with_checks([_small()], expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
