"""The scikit-learn tags of a learner whose ``fit`` needs ``y``."""

__all__ = ["TargetRequiredMixin"]


class TargetRequiredMixin:
    """Marks a learner's ``fit`` as needing ``y`` (scikit-learn's ``target_tags.required``).

    It comes first among the bases, so that its tags extend those of the
    mixins after it.

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> from mlearn.learners._tags import TargetRequiredMixin
    >>> class Learner(TargetRequiredMixin, BaseEstimator):
    ...     pass
    >>> Learner().__sklearn_tags__().target_tags.required
    True
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {**super()._more_tags(), "requires_y": True}
