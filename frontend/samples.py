"""Texts to start from on the Process page."""

SAMPLES: dict[str, str] = {
    "Product review": (
        "I bought the Aurora espresso machine three weeks ago and it has changed my mornings. "
        "The steam wand heats milk in under a minute, and the shots are rich and consistent. "
        "Cleaning is simple because the drip tray and the brew group come out without tools. "
        "My only complaint is the water tank, which is small and needs refilling every two days. "
        "Overall I am delighted with it and would recommend it to anyone who loves coffee."
    ),
    "News item": (
        "The city council approved a plan on Tuesday to convert four downtown streets into pedestrian zones. "
        "The project will begin in March and is expected to take eighteen months. "
        "Local businesses are divided: restaurant owners welcome the extra outdoor seating, "
        "while several shop owners worry that deliveries will become harder. "
        "The council said it will add two loading areas and review the plan after the first year."
    ),
    "Technical note": (
        "Caching the responses of a language model saves both time and money, because identical requests "
        "are answered from memory instead of calling the provider again. "
        "A cache key must identify the request exactly: the operation, the full text, the options, "
        "the question, the model and the prompt version. "
        "Hashing the text with a fast function such as BLAKE3 keeps keys short and never exposes the text. "
        "Entries expire after a time-to-live chosen per operation, and fallback answers are never cached."
    ),
}
