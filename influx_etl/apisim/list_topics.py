"""What the synthetic Lists are about: their topics, names and descriptions, and who cares for what.

A topic has names for the three kinds of List people make about it (hand-curated, noisy, and
Lists of organisations), a label, emoji that List names carry, and the words of a bio that make
an account interested in it (:func:`interests`). The name tables are invented, in the style of
real List names (varied casing, emoji, the odd duplicate).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

ListKind = Literal["curated", "broad", "noisy", "organisations"]
"""How a List picks its members: ``curated`` ones strongly by how listed an account is, ``broad``
ones (the big Lists) less so, ``noisy`` ones almost uniformly (spam and brands included), and
``organisations`` ones among brand and official accounts only."""


@dataclass(frozen=True)
class Topic:
    label: str
    curated: tuple[str, ...]
    noisy: tuple[str, ...]
    organisations: tuple[str, ...]
    emoji: tuple[str, ...]
    keywords: str
    """Alternation of the bio words that make an account interested in the topic."""


# fmt: off
TOPICS: Final[Mapping[str, Topic]] = {
    "ai_research": Topic(
        "AI research",
        (
            "AI researchers",
            "AI Research",
            "ML/AI researchers",
            "Deep learning researchers",
            "LLM researchers",
            "AI safety folks",
            "Research scientists (AI)",
            "AI papers people",
        ),
        ("ai", "AI stuff", "AI hype", "ai twitter", "robots & llms"),
        ("AI labs", "AI labs & companies", "Research labs"),
        ("🧠", "🤖", "🔬"),
        r"research scientist|phd|ai safety|head of ai|professor",
    ),
    "machine_learning": Topic(
        "Machine learning",
        (
            "ML people worth following",
            "Machine Learning",
            "ML engineers",
            "MLOps",
            "Data science & ML",
            "Kaggle crowd",
            "Applied ML",
        ),
        ("ML", "data ppl", "ml/ds", "tech & ml"),
        ("ML tools & companies", "Data companies"),
        ("📈", "🤖", "🧮"),
        r"machine learning|data scientist|head of ai|quanta ai",
    ),
    "science": Topic(
        "Science",
        (
            "Science communicators",
            "Scientists",
            "SciComm",
            "Physicists & friends",
            "Space science",
            "Biology people",
            "Science Twitter",
        ),
        ("science", "sci", "nerds"),
        ("Science orgs & journals", "Research institutes", "Space agencies"),
        ("🔭", "🧬", "🧪"),
        r"professor|phd|research|biotech|space|helix bio",
    ),
    "writing": Topic(
        "Writing",
        (
            "Writers",
            "Newsletter writers",
            "Essayists",
            "Good writers",
            "Substack people",
            "Writers I read",
        ),
        ("writing", "words", "read later"),
        ("Publishers & magazines", "Literary mags"),
        ("✍️", "📚", "📝"),
        r"writer|writing about|newsletter",
    ),
    "investing": Topic(
        "Investing",
        (
            "VCs & angels",
            "Venture capital",
            "Investors",
            "Angel investors",
            "Seed investors",
            "Macro & markets",
            "Fintech investors",
        ),
        ("money", "vc", "finance stuff", "markets"),
        ("VC firms", "Funds & firms", "Banks & brokers"),
        ("💸", "📈", "💰"),
        r"investor|partner|capital|ventures|markets|economist",
    ),
    "engineering": Topic(
        "Engineering",
        (
            "Engineers",
            "Software engineers",
            "Distributed systems",
            "Open source maintainers",
            "Security people",
            "Devtools",
            "Staff+ engineers",
            "Rustaceans",
        ),
        ("dev", "tech twitter", "code", "programmers"),
        ("Dev tools companies", "Cloud & infra", "Open source projects"),
        ("💻", "🛠️", "⚙️"),
        r"engineer|\bcto\b|distributed systems|developer tools|open source|security|robotics",
    ),
    "design": Topic(
        "Design",
        (
            "Designers",
            "Product designers",
            "Design systems",
            "UX people",
            "Type & design",
            "Design leaders",
        ),
        ("design", "inspo", "pretty things"),
        ("Design studios", "Design tools"),
        ("🎨", "✏️", "🖌️"),
        r"designer|design systems|product",
    ),
    "policy": Topic(
        "Policy",
        ("Policy wonks", "Tech policy", "Economists", "Think tank people", "Education policy"),
        ("politics", "policy", "gov"),
        ("Government accounts", "Think tanks", "Public agencies"),
        ("🏛️", "📜", "🗳️"),
        r"economist|education|policy|university",
    ),
    "health": Topic(
        "Health",
        ("Doctors", "Health & medicine", "Physicians", "Biotech founders", "Public health"),
        ("health", "wellness", "fitness"),
        ("Hospitals & health orgs", "Health agencies"),
        ("🩺", "💊", "🏥"),
        r"physician|health|biotech",
    ),
    "climate": Topic(
        "Climate",
        (
            "Climate tech",
            "Climate scientists",
            "Energy transition",
            "Climate people",
            "Clean energy",
        ),
        ("climate", "green", "energy"),
        ("Climate orgs", "Energy companies"),
        ("🌍", "🌱", "⚡"),
        r"climate",
    ),
    "crypto": Topic(
        "Crypto",
        ("Crypto builders", "Web3 devs", "Bitcoin people", "DeFi researchers"),
        ("crypto", "CT", "alpha", "gm", "airdrops"),
        ("Exchanges & projects", "Crypto companies", "Protocols"),
        ("🚀", "💎", "₿"),
        r"crypto|bitcoin|\beth\b|fintech|100x",
    ),
    "startups": Topic(
        "Startups",
        (
            "Founders",
            "Startup founders",
            "Indie hackers",
            "YC founders",
            "Builders",
            "Operators",
            "Bootstrappers",
        ),
        ("startups", "tech", "people to watch"),
        ("Startups", "Accelerators", "Tech companies"),
        ("🚀", "🦄", "🛠️"),
        r"founder|\bceo\b|startups|building",
    ),
    "media": Topic(
        "Media",
        ("Journalists", "Tech journalists", "Reporters", "Media people", "Editors"),
        ("news", "media", "press"),
        ("News outlets", "Newspapers", "Media outlets", "Newsrooms"),
        ("📰", "🗞️", "🎙️"),
        r"journalist|ledger|\bnews\b|writer|editor",
    ),
}
# fmt: on
"""The topics of the synthetic Lists, by key (``ai_research``, ``machine_learning``...)."""

TOPIC_KEYS: Final = tuple(TOPICS)
MAX_NAME_LENGTH: Final = 25
"""The longest name a List can have."""
_TOPIC_INDEX: Final = {key: index for index, key in enumerate(TOPIC_KEYS)}
_TOPIC_WEIGHTS: Final = tuple(2.0 if key.startswith(("ai_", "machine")) else 1.0 for key in TOPICS)
_EMPTY_NAMES: Final = ("new list", "To sort", "untitled", "later")
# every keyword starts a word: the boundary first spares trying them all at each character
_BIO_WORDS: Final = re.compile(
    r"\b(?:" + "|".join(f"(?P<{key}>{topic.keywords})" for key, topic in TOPICS.items()) + ")"
)
_NOISY_DESCRIPTIONS: Final = ("", "", "random", "accounts", "follow these", "🔥", "misc")


def draw_topic(rng: random.Random) -> str:
    return rng.choices(TOPIC_KEYS, weights=_TOPIC_WEIGHTS)[0]


def list_name(topic_key: str, kind: ListKind, rng: random.Random, *, empty: bool = False) -> str:
    """A List name for ``topic_key`` (``empty``: a List made and never filled), at most
    :data:`MAX_NAME_LENGTH` characters."""
    topic = TOPICS[topic_key]
    if empty:
        return rng.choice(_EMPTY_NAMES)
    if kind == "broad" and rng.random() < 0.5:
        label = topic.label
        broad = (f"Everyone in {label}", f"{label} (big list)", f"All {label}")
        name = rng.choice([name for name in broad if len(name) <= MAX_NAME_LENGTH])
    else:
        pool = topic.organisations if kind == "organisations" else topic.curated
        name = rng.choice(topic.noisy if kind == "noisy" else pool)
    style = rng.random()
    if style < 0.15:
        name = name.lower()
    elif style < 0.2:
        name = name.upper()
    elif style < 0.25:
        # "my writers", but "my ML people" and "my DeFi researchers"
        title_case = name.split(" ")[0][1:].islower()
        name = f"my {name[:1].lower() + name[1:] if title_case else name}"
    for chance, decoration in (
        (0.25, rng.choice(topic.emoji)),
        (0.04, rng.choice(("2", "v2", "(mine)", "II"))),
    ):
        if rng.random() < chance and len(name) + 1 + len(decoration) <= MAX_NAME_LENGTH:
            name = f"{name} {decoration}"
    return name[:MAX_NAME_LENGTH]


def list_description(
    topic_key: str, kind: ListKind, rng: random.Random, *, empty: bool = False
) -> str:
    label = TOPICS[topic_key].label
    if empty:
        return ""
    if kind == "curated":
        return rng.choice(
            (
                f"{label} worth following.",
                f"Hand-picked {label.lower()} accounts.",
                f"The best of {label.lower()} on here.",
                "",
            )
        )
    if kind == "broad":
        return f"Everyone I could find in {label.lower()}."
    if kind == "organisations":
        return f"{label}: organisations, companies and official accounts."
    return rng.choice(_NOISY_DESCRIPTIONS)


def interests(description: str, draw: int) -> set[int]:
    """Indexes in :data:`TOPIC_KEYS` of what an account with this bio cares for: the topics its
    bio names, plus one or two drawn from ``draw`` (a uniform 64-bit integer)."""
    found = {
        _TOPIC_INDEX[str(match.lastgroup)] for match in _BIO_WORDS.finditer(description.lower())
    }
    count = len(TOPIC_KEYS)
    found.add(draw % count)
    if (draw >> 16) % 5 < 2:
        found.add((draw >> 24) % count)
    return found
