"""Constraints generated from class labels: pairs, triplets, chunklets.

Weakly supervised learners train on tuples; their ``_Supervised`` forms, and
users with labels, build those tuples here. Every sampler takes a
``random_state`` and gives the same tuples for the same seed.
"""

import warnings
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.utils import check_random_state

# the unvalidated entry: the learner has checked its arguments
from .pairwise._api import _kneighbors as kneighbors

__all__ = ["Constraints", "wrap_pairs"]

#: What ``random_state`` takes, as in scikit-learn.
_RandomState = int | np.random.RandomState | None
_Indices = NDArray[np.int64]


class Constraints:
    """Sample constraints from (partial) class labels.

    Parameters
    ----------
    partial_labels : array-like of shape (n_samples,)
        Class labels. Negative integer labels mark unlabelled points, which
        take part in no constraint (the convention metric-learn uses).

    Attributes
    ----------
    partial_labels : ndarray of shape (n_samples,)
    known_label_idx : ndarray
        Indices of the labelled points.
    known_labels : ndarray
        Their labels.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import Constraints
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> a, b, c, d = Constraints(y).positive_negative_pairs(4, random_state=0)
    >>> bool(np.all(y[a] == y[b])), bool(np.all(y[c] != y[d]))
    (True, True)
    """

    def __init__(self, partial_labels: ArrayLike) -> None:
        labels = np.asarray(partial_labels)
        if labels.ndim != 1:
            raise ValueError(
                f"partial_labels must be 1-D, one label per sample; got shape {labels.shape}"
            )
        if labels.shape[0] == 0:
            raise ValueError("partial_labels must not be empty")
        self.partial_labels = labels
        if labels.dtype.kind in "iuf":
            known = labels >= 0
        else:
            known = np.ones(labels.shape[0], dtype=bool)
        self.known_label_idx = np.flatnonzero(known)
        self.known_labels = labels[known]
        self._classes, self._codes = np.unique(self.known_labels, return_inverse=True)
        self._members = [self.known_label_idx[self._codes == k] for k in range(len(self._classes))]

    # -- pairs -----------------------------------------------------------------

    def positive_negative_pairs(
        self, n_constraints: int, same_length: bool = False, random_state: _RandomState = None
    ) -> tuple[_Indices, _Indices, _Indices, _Indices]:
        """Random similar and dissimilar pairs of distinct points.

        Parameters
        ----------
        n_constraints : int
            Number of pairs of each kind to draw.
        same_length : bool, default=False
            Truncate both kinds to the shorter one when fewer could be drawn.
        random_state : int, RandomState instance or None

        Returns
        -------
        a, b : ndarray of int
            Similar pairs ``(a[i], b[i])``: same label.
        c, d : ndarray of int
            Dissimilar pairs ``(c[i], d[i])``: different labels.
        """
        n_constraints = _check_count(n_constraints, "n_constraints")
        rng = check_random_state(random_state)
        a, b = self._positive_pairs(n_constraints, rng)
        c, d = self._negative_pairs(n_constraints, rng)
        if same_length and len(a) != len(c):
            n = min(len(a), len(c))
            a, b, c, d = a[:n], b[:n], c[:n], d[:n]
        return a, b, c, d

    def pairs(
        self, n_constraints: int, random_state: _RandomState = None
    ) -> tuple[_Indices, _Indices]:
        """Labelled index pairs: up to ``n_constraints`` similar (+1) and as many dissimilar (-1).

        Returns
        -------
        pairs : ndarray of shape (n_pairs, 2)
            Index pairs, similar ones first.
        y : ndarray of shape (n_pairs,)
            +1 for similar, -1 for dissimilar.
        """
        a, b, c, d = self.positive_negative_pairs(n_constraints, random_state=random_state)
        pairs = np.vstack([np.column_stack([a, b]), np.column_stack([c, d])])
        y = np.concatenate([np.ones(len(a), dtype=np.int64), -np.ones(len(c), dtype=np.int64)])
        return pairs, y

    def _positive_pairs(self, n, rng):
        sizes = np.array([len(m) for m in self._members])
        eligible = np.flatnonzero(sizes >= 2)
        if len(eligible) == 0:
            raise ValueError(
                "similar pairs need a class with at least 2 labelled points; "
                f"class sizes are {dict(zip(self._classes.tolist(), sizes.tolist()))}"
            )
        available = int(np.sum(sizes * (sizes - 1) // 2))
        # Draw pairs uniformly over all similar pairs: pick a class with
        # probability proportional to its number of pairs, then two members.
        weights = (sizes * (sizes - 1) / 2.0)[eligible]
        weights /= weights.sum()

        def draw(k):
            cls = eligible[rng.choice(len(eligible), size=k, p=weights)]
            size = sizes[cls]
            i = (rng.random_sample(k) * size).astype(np.int64)
            j = (rng.random_sample(k) * (size - 1)).astype(np.int64)
            j += j >= i
            first = np.array([self._members[c][t] for c, t in zip(cls, i)], dtype=np.int64)
            second = np.array([self._members[c][t] for c, t in zip(cls, j)], dtype=np.int64)
            return first, second

        return self._unique_pairs(
            draw, n, available, "similar", lambda: self._all_pairs(similar=True), rng
        )

    def _negative_pairs(self, n, rng):
        idx = self.known_label_idx
        codes = self._codes
        sizes = np.bincount(codes)
        if len(self._classes) < 2:
            raise ValueError(
                "dissimilar pairs need labelled points of at least 2 classes; "
                f"got {len(self._classes)} class"
            )
        available = int((len(idx) ** 2 - np.sum(sizes.astype(np.int64) ** 2)) // 2)

        def draw(k):
            i = rng.randint(len(idx), size=k)
            j = rng.randint(len(idx), size=k)
            keep = codes[i] != codes[j]
            return idx[i[keep]], idx[j[keep]]

        return self._unique_pairs(
            draw, n, available, "dissimilar", lambda: self._all_pairs(similar=False), rng
        )

    def _all_pairs(self, similar):
        """Every similar (or dissimilar) pair of labelled points, each once."""
        if similar:
            parts = [np.triu_indices(len(m), k=1) for m in self._members]
            first = [m[i] for m, (i, _) in zip(self._members, parts)]
            second = [m[j] for m, (_, j) in zip(self._members, parts)]
            return np.concatenate(first), np.concatenate(second)
        i, j = np.triu_indices(len(self.known_label_idx), k=1)
        keep = self._codes[i] != self._codes[j]
        return self.known_label_idx[i[keep]], self.known_label_idx[j[keep]]

    @staticmethod
    def _unique_pairs(draw, n, available, kind, everything, rng):
        """``min(n, available)`` distinct pairs, drawn by ``draw`` until enough
        are new; when the draws stall (nearly every pair asked for, so that
        new ones are rare), the rest is sampled from ``everything()`` not yet
        drawn."""
        target = min(n, available)
        if target < n:
            warnings.warn(
                f"only {available} distinct {kind} pairs exist; returning {available} "
                f"instead of the {n} asked for",
                UserWarning,
                stacklevel=4,
            )
        seen = {}
        rounds = 0
        while len(seen) < target:
            first, second = draw(max(2 * (target - len(seen)), 16))
            for u, v in zip(first.tolist(), second.tolist()):
                key = (u, v) if u < v else (v, u)
                if key not in seen:
                    seen[key] = (u, v)
                    if len(seen) == target:
                        break
            rounds += 1
            # only past 10,000 rounds, where the draws used to give up: every
            # draw that finished before gives the pairs it gave then
            if rounds > 10_000 and len(seen) < target:
                first, second = everything()
                rest = [
                    (u, v) for u, v in zip(first.tolist(), second.tolist()) if (u, v) not in seen
                ]
                for t in rng.choice(len(rest), size=target - len(seen), replace=False):
                    seen[rest[t]] = rest[t]
        pairs = np.array(list(seen.values()), dtype=np.int64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    # -- triplets ---------------------------------------------------------------

    def triplets(self, n_constraints: int, random_state: _RandomState = None) -> _Indices:
        """Random triplets ``(anchor, positive, negative)`` of indices.

        ``anchor`` and ``positive`` share a label, ``negative`` has another one.

        Returns
        -------
        triplets : ndarray of shape (n_constraints, 3)
        """
        n_constraints = _check_count(n_constraints, "n_constraints")
        rng = check_random_state(random_state)
        a, p = self._positive_pairs(n_constraints, rng)
        if len(self._classes) < 2:
            raise ValueError(
                "triplets need labelled points of at least 2 classes; "
                f"got {len(self._classes)} class"
            )
        position = np.searchsorted(self.known_label_idx, a)
        anchor_codes = self._codes[position]
        negatives = np.empty(len(a), dtype=np.int64)
        for code in np.unique(anchor_codes):
            rows = np.flatnonzero(anchor_codes == code)
            others = self.known_label_idx[self._codes != code]
            negatives[rows] = others[rng.randint(len(others), size=len(rows))]
        return np.column_stack([a, p, negatives])

    def generate_knntriplets(self, X: ArrayLike, k_genuine: int, k_impostor: int) -> _Indices:
        """Triplets from nearest neighbours (Euclidean), over the labelled points.

        For every labelled point ``i``, each of its ``k_genuine`` nearest
        same-class neighbours ``j`` is combined with each of its
        ``k_impostor`` nearest points ``l`` of other classes into a triplet
        ``(i, j, l)``.

        A class too small for ``k_genuine`` neighbours (it has at most
        ``k_genuine`` points), or with too few points outside it for
        ``k_impostor``, uses as many as it has, with a ``UserWarning`` (as
        metric-learn does); a class of one point gives no triplet.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The points, unlabelled ones included (they take part in no
            triplet).
        k_genuine : int
            Same-class neighbours per point.
        k_impostor : int
            Other-class neighbours per point.

        Returns
        -------
        triplets : ndarray of shape (n_triplets, 3)
            Indices into ``X``, class after class; ``n_triplets`` is
            ``n_labelled * k_genuine * k_impostor`` when no class is too small.

        Raises
        ------
        ValueError
            When no triplet can be formed (a single class, or only classes
            of one point).

        Examples
        --------
        >>> import warnings
        >>> import numpy as np
        >>> from mlearn import Constraints
        >>> X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
        >>> y = np.array([0, 0, 0, 1, 1])
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     triplets = Constraints(y).generate_knntriplets(X, k_genuine=2, k_impostor=1)
        >>> triplets.shape, len(caught)  # class 1 has one neighbour to give, not 2
        ((8, 3), 1)
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] != self.partial_labels.shape[0]:
            raise ValueError(
                f"X must have shape (n_samples={self.partial_labels.shape[0]}, n_features), "
                f"got {X.shape}"
            )
        k_genuine = _check_count(k_genuine, "k_genuine")
        k_impostor = _check_count(k_impostor, "k_impostor")
        sizes = np.bincount(self._codes, minlength=len(self._classes))
        n_outside = len(self.known_label_idx) - sizes
        genuine_counts = np.minimum(k_genuine, sizes - 1)
        impostor_counts = np.minimum(k_impostor, n_outside)
        for code in range(len(self._classes)):
            self._warn_fewer_neighbours(
                code, "genuine", k_genuine, genuine_counts[code], sizes[code] - 1
            )
            self._warn_fewer_neighbours(
                code, "impostor", k_impostor, impostor_counts[code], n_outside[code]
            )
        if not np.any(genuine_counts * impostor_counts > 0):
            raise ValueError(
                "no triplet can be formed: it needs a class with at least 2 labelled "
                "points and labelled points of another class; class sizes are "
                f"{dict(zip(self._classes.tolist(), sizes.tolist()))}"
            )
        blocks = []
        for code in range(len(self._classes)):
            n_genuine, n_impostor = int(genuine_counts[code]), int(impostor_counts[code])
            if n_genuine == 0 or n_impostor == 0:
                continue
            members = self._members[code]
            others = self.known_label_idx[self._codes != code]
            _, genuine = kneighbors(X[members], n_neighbors=n_genuine, exclude_self=True)
            _, impostor = kneighbors(X[members], X[others], n_neighbors=n_impostor)
            anchors = np.repeat(members, n_genuine * n_impostor)
            pos = np.repeat(members[genuine], n_impostor, axis=1).ravel()
            neg = np.tile(others[impostor], (1, n_genuine)).ravel()
            blocks.append(np.column_stack([anchors, pos, neg]))
        return np.vstack(blocks)

    def _warn_fewer_neighbours(self, code, kind, asked, used, available):
        if used < asked:
            where = "in its class" if kind == "genuine" else "in other classes"
            warnings.warn(
                f"class {self._classes.tolist()[code]!r} has {available} labelled point(s) "
                f"{where}, fewer than k_{kind}={asked}: its points get {used} "
                f"{kind} neighbour(s) each",
                UserWarning,
                stacklevel=3,
            )

    # -- chunklets --------------------------------------------------------------

    def chunks(
        self, n_chunks: int = 100, chunk_size: int = 2, random_state: _RandomState = None
    ) -> _Indices:
        """Chunklets: disjoint groups of ``chunk_size`` points sharing a label.

        Returns
        -------
        chunks : ndarray of shape (n_samples,)
            The chunk index of each point, -1 for points in no chunk.
        """
        n_chunks = _check_count(n_chunks, "n_chunks")
        chunk_size = _check_count(chunk_size, "chunk_size")
        rng = check_random_state(random_state)
        sizes = np.array([len(m) for m in self._members])
        capacity = sizes // chunk_size
        if capacity.sum() < n_chunks:
            raise ValueError(
                f"n_chunks={n_chunks} chunks of chunk_size={chunk_size} points need more "
                f"labelled points per class: the classes hold {sizes.tolist()} points, "
                f"enough for {int(capacity.sum())} chunks. Lower n_chunks or chunk_size."
            )
        # spread the chunks over classes in proportion to what each can hold
        per_class = np.zeros(len(sizes), dtype=np.int64)
        order = rng.permutation(np.repeat(np.arange(len(sizes)), capacity))
        np.add.at(per_class, order[:n_chunks], 1)
        chunks = -np.ones(self.partial_labels.shape[0], dtype=np.int64)
        next_chunk = 0
        for code, count in enumerate(per_class):
            if count == 0:
                continue
            chosen = rng.permutation(self._members[code])[: count * chunk_size]
            chunks[chosen] = next_chunk + np.arange(count).repeat(chunk_size)
            next_chunk += count
        return chunks


def wrap_pairs(
    X: ArrayLike, constraints: Sequence[ArrayLike]
) -> tuple[NDArray[np.generic], _Indices]:
    """Turn ``(a, b, c, d)`` index arrays into a pairs array and labels.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    constraints : tuple of 4 index arrays
        As returned by :meth:`Constraints.positive_negative_pairs`.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2, n_features)
    y : ndarray of shape (n_pairs,)
        +1 for the similar pairs (first), -1 for the dissimilar ones.
    """
    a, b, c, d = (np.asarray(v) for v in constraints)
    X = np.asarray(X)
    pairs = np.stack([X[np.concatenate([a, c])], X[np.concatenate([b, d])]], axis=1)
    y = np.concatenate([np.ones(len(a), dtype=np.int64), -np.ones(len(c), dtype=np.int64)])
    return pairs, y


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)
