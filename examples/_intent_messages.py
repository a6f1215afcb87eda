"""Short customer messages labelled by intent and by domain.

Written for the sentence-embedding example (``plot_text_intents.py``): each
message says what its writer wants (praise, a complaint or a question) about
one of four domains. They are illustrative, not a benchmark.
"""

import numpy as np

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
        Index into ``INTENTS`` (the label the metric should follow).
    domain : ndarray of shape (n_messages,)
        Index into ``DOMAINS`` (the nuisance the raw embedding follows).
    """
    texts, intent, domain = [], [], []
    for i, name in enumerate(INTENTS):
        for d, topic in enumerate(DOMAINS):
            for text in MESSAGES[name][topic]:
                texts.append(text)
                intent.append(i)
                domain.append(d)
    return texts, np.array(intent), np.array(domain)
