"""Deterministic synthetic X accounts for the embedded API server.

Every value is a pure function of ``(handle lower-cased, seed)``: the same handle gets the same
profile in every run and every process, because the random stream is seeded from a SHA-256 digest
(never from Python's salted ``hash()``).

The profiles are shaped like API v2 user objects with every field the server can return; the server
trims them to the requested ``user.fields``. They are fabricated, so each carries the non-API field
``"_influx_origin": "synthetic"``, which the pipeline uses to keep them out of the real dataset.

Distributions (chosen to look like a mixed seed list, not measured from the real platform):

* status: ~5 % of handles do not exist, ~2 % are suspended (:func:`handle_status`);
* followers: log-normal (median ~1.5k, most below 50k, several percent between 50k and 10M, above
  10M only rarely), shifted up for verified accounts; following, posts, lists, likes and media are
  drawn around values correlated with followers and account age;
* ``verified_type``: ~20 % ``blue``, a few % ``business``, under 1 % ``government``, the rest
  ``none``; the legacy boolean ``verified`` is true exactly when the type is not ``none``;
* bios: mostly personal (engineer, founder, researcher, investor...), some brand/official accounts,
  some risky ones (follow-back spam, crypto giveaways, 18+), some empty; about a third have a url.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final, Literal

HANDLE_PATTERN: Final = re.compile(r"^[A-Za-z0-9_]{1,15}$")
"""What the API accepts as a username: 1-15 characters of ``[A-Za-z0-9_]``."""

ORIGIN_FIELD: Final = "_influx_origin"
"""Non-API field the server adds to every user object it serves."""
ORIGIN_RECORDED: Final = "recorded"
ORIGIN_SYNTHETIC: Final = "synthetic"

HandleStatus = Literal["active", "not_found", "suspended"]

NOT_FOUND_FRACTION: Final = 0.05
SUSPENDED_FRACTION: Final = 0.02

TWITTER_EPOCH_MS: Final = 1_288_834_974_657
"""Millisecond epoch of snowflake ids: ``created_ms = (id >> 22) + TWITTER_EPOCH_MS``."""

_CREATED_FROM: Final = int(datetime(2007, 1, 1, tzinfo=UTC).timestamp())
_CREATED_TO: Final = int(datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
_SNOWFLAKE_USER_IDS_FROM: Final = int(datetime(2013, 1, 1, tzinfo=UTC).timestamp())
_SEQUENTIAL_ID_ORIGIN: Final = int(datetime(2006, 3, 21, tzinfo=UTC).timestamp())
_PINNED_UNTIL: Final = int(datetime(2025, 10, 31, tzinfo=UTC).timestamp())
_MAX_FOLLOWERS: Final = 250_000_000

_FIRST_NAMES: Final = (
    "anna", "ben", "carla", "david", "elena", "farid", "grace", "hiro", "ines", "jamal", "kate",
    "liam", "maya", "noah", "olga", "priya", "quinn", "rosa", "sam", "tariq", "uma", "victor",
    "wen", "xavier", "yara", "zoe", "amir", "bea", "chen", "dara", "emre", "fatima", "gus", "hana",
    "ivan", "jo", "kenji", "lena", "marco", "nia", "omar", "pablo", "ravi", "sofia", "tom", "yuki",
    "alex", "bruno", "chloe", "diego", "erin", "felix", "gia", "hugo", "isla", "jack", "kai",
    "lucas", "mia", "nora", "oscar", "paula", "raj", "sara", "theo", "vera", "will", "ximena",
    "yusuf", "zain", "ada", "boris", "cleo", "dev", "eva", "finn", "gabe", "helen", "ian", "julia",
    "karim", "leo", "mateo", "nadia", "otto", "petra", "rhea", "sean", "tara", "ugo", "vivian",
    "wei", "yan", "zara", "aisha", "carlos", "daniel", "emma", "george", "hannah", "james",
    "laura", "mark", "nina", "peter", "rachel", "simon", "tina", "adam", "beth", "colin", "dan",
)  # fmt: skip
_LAST_NAMES: Final = (
    "kim", "smith", "garcia", "nguyen", "mueller", "rossi", "tanaka", "okafor", "silva", "novak",
    "haddad", "patel", "cohen", "larsen", "moreau", "ivanova", "chen", "diaz", "ali", "berg",
    "costa", "singh", "wright", "fischer", "sato", "kowalski", "ahmed", "lopez", "walker", "yilmaz",
    "brown", "jones", "miller", "davis", "wilson", "taylor", "thomas", "moore", "martin", "lee",
    "clark", "lewis", "young", "hall", "allen", "king", "scott", "green", "baker", "adams",
    "nelson", "hill", "campbell", "mitchell", "roberts", "carter", "phillips", "evans", "turner",
    "torres", "parker", "collins", "edwards", "stewart", "morris", "murphy", "cook", "rogers",
    "morgan", "cooper", "peterson", "reed", "bailey", "bell", "gomez", "kelly", "howard", "ward",
    "cox", "ramos", "watson", "brooks", "sanders", "price", "bennett", "wood", "barnes", "ross",
    "henderson", "jenkins", "perry", "powell", "long", "patterson", "hughes", "flores", "meyer",
    "schmidt", "weber", "wagner", "becker", "hoffmann", "dubois", "bernard", "petit", "romano",
    "ricci", "marino", "suzuki", "takahashi", "watanabe", "park", "choi", "jung", "kang", "wang",
    "li", "zhang", "liu", "yang", "huang", "kumar", "sharma", "gupta", "reddy", "das", "khan",
)  # fmt: skip
_HANDLE_STYLES: Final = (
    "{f}{l}", "{f}_{l}", "{f}{l0}", "the{l}", "{f}", "real{f}", "{f}_{l0}", "{f0}{l}", "{l}{f}",
    "{f}{l}_", "its{f}{l}", "{f}_{l}_", "im{f}", "hey{f}",
)  # fmt: skip
_HANDLE_BASE_LENGTH: Final = 11
"""Longest name part of a synthetic handle: leaves room for a numeric suffix of up to 4 digits."""
_SUFFIXES_PER_BASE: Final = 10_000
"""Numeric suffixes of a name part: none, then 1 to 9999."""

_ROLES: Final = (
    "Software engineer", "Founder", "Co-founder & CEO", "Research scientist", "Investor",
    "Product manager", "Designer", "Journalist", "Data scientist", "Partner", "Staff engineer",
    "Writer", "Economist", "Physician", "Professor", "PhD student", "CTO", "Head of AI",
)  # fmt: skip
_ORGS: Final = (
    "Northwind", "Lumen Labs", "Acme Robotics", "Blue Harbor Capital", "Quanta AI", "Fieldstone",
    "Helix Bio", "Openframe", "Stackline", "Meridian University", "The Daily Ledger", "Copperleaf",
    "Vantage Ventures", "Orbital Systems", "Kiteworks Studio", "Parallel Health",
)  # fmt: skip
_TOPICS: Final = (
    "machine learning", "distributed systems", "climate tech", "developer tools", "fintech",
    "robotics", "open source", "biotech", "design systems", "security", "startups", "markets",
    "product", "AI safety", "education", "space",
)  # fmt: skip
_PERSONAL_TAILS: Final = (
    "Views my own.", "Ex-{org}.", "Building {topic}.", "Writing about {topic}.", "Dad of two.",
    "Mom, runner, coffee.", "Angel investor in {n}+ startups.", "PhD in {topic}.", "",
    "Newsletter below.", "Opinions are mine.", "Previously {org}.",
)  # fmt: skip
_BRAND_BIOS: Final = (
    "Official account of {name}.",
    "News and updates from {name}.",
    "{name} customer service. We're here to help 24/7.",
    "The official {name} account. For support, DM us.",
    "Official news, product updates and events from the {name} team.",
)
_RISKY_BIOS: Final = (
    "Follow back guaranteed 💯 #followback #teamfollowback",
    "I follow back everyone! DM for promo 🔥",
    "🚀 Crypto giveaway! Send 0.1 ETH, get 1 ETH back 💰 link below 👇",
    "Bitcoin 100x signals 📈 Join the giveaway, DM now",
    "18+ only 🔞 link in bio",
    "NSFW creator. 18+. Subscribe for exclusive content",
)
_LOCATIONS: Final = (
    "San Francisco, CA", "New York, NY", "London", "Berlin, Germany", "Paris", "Toronto",
    "Bengaluru, India", "Singapore", "Tokyo", "Lagos, Nigeria", "São Paulo", "Sydney", "Austin, TX",
    "Seattle, WA", "Amsterdam", "Tel Aviv", "Nairobi", "Dubai", "Earth", "Remote",
)  # fmt: skip
_TWEET_TEXTS: Final = (
    "Excited to share what we've been working on: {topic}, finally in public.",
    "A thread on everything I learned about {topic} this year 🧵",
    "We're hiring! Come build {topic} with us.",
    "New post: why {topic} is harder than it looks.",
    "Big news today. Thank you all for the support ❤️",
    "My talk on {topic} is now online.",
    "Giveaway! Follow and retweet to win 🎁",
    "Pinned: start here. Who I am and what I post about.",
)
_ALNUM: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()


def _rng(digest: bytes) -> random.Random:
    return random.Random(int.from_bytes(digest, "big"))


def handle_status(handle: str, seed: int = 0) -> HandleStatus:
    """Whether a synthetic handle is active, suspended or was never registered (any case)."""
    unit = int.from_bytes(_digest("status", seed, handle.lower())[:8], "big") / 2.0**64
    if unit < NOT_FOUND_FRACTION:
        return "not_found"
    if unit < NOT_FOUND_FRACTION + SUSPENDED_FRACTION:
        return "suspended"
    return "active"


def iso_timestamp(epoch_s: float) -> str:
    """The API's timestamp format, whole seconds: ``2013-12-14T04:35:55.000Z``."""
    return datetime.fromtimestamp(int(epoch_s), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def snowflake_epoch_s(snowflake: int) -> float | None:
    """Creation time encoded in a snowflake id, or None for ids older than snowflakes."""
    created_ms = (snowflake >> 22) + TWITTER_EPOCH_MS
    # pre-snowflake post ids stayed below ~3e10, which would decode to snowflake's first second
    return created_ms / 1000 if snowflake >= 1 << 40 else None


def _snowflake(epoch_s: float, rng: random.Random) -> int:
    return ((int(epoch_s * 1000) - TWITTER_EPOCH_MS) << 22) | rng.getrandbits(22)


def _user_id(created_s: int, rng: random.Random) -> int:
    if created_s >= _SNOWFLAKE_USER_IDS_FROM:
        return _snowflake(created_s + rng.random(), rng)
    # Before 2013 user ids were sequential. 10^5 id slots per second keep two handles created in
    # the same second from sharing an id (collisions would break any id-keyed store).
    return (created_s - _SEQUENTIAL_ID_ORIGIN) * 100_000 + rng.randrange(100_000)


def _canonical_case(key: str, rng: random.Random) -> str:
    style = rng.random()
    if style < 0.55:
        return key
    if style < 0.85:  # CamelCase per alphabetic run: anna_kim42 -> Anna_Kim42
        return re.sub(r"[a-z]+", lambda m: m.group(0).capitalize(), key)
    if style < 0.95:
        return key[:1].upper() + key[1:]
    return key.upper()


_NAME_PREFIXES: Final = ("real", "the", "its", "im")
_FIRST_NAMES_LONGEST_FIRST: Final = tuple(sorted(_FIRST_NAMES, key=len, reverse=True))


def _split_run(word: str) -> list[str]:
    """``realannakim`` -> ``anna kim``: a best effort at the words glued together in a handle."""
    lower = word.lower()
    for prefix in _NAME_PREFIXES:
        if lower.startswith(prefix) and len(lower) - len(prefix) >= 3:
            lower = lower[len(prefix) :]
            break
    for first in _FIRST_NAMES_LONGEST_FIRST:
        if lower.startswith(first) and len(lower) > len(first):
            return [first, lower[len(first) :]]
    return [lower]


def _display_name(username: str) -> str:
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", username)
    if not words:
        return f"User {username}"
    if len(words) == 1:
        words = _split_run(words[0])
    return " ".join(word.capitalize() if word.islower() else word for word in words)


def _tco(rng: random.Random) -> str:
    return "https://t.co/" + "".join(rng.choices(_ALNUM, k=10))


def _url_entity(short: str, expanded: str, start: int) -> dict[str, Any]:
    display = expanded.removeprefix("https://").removeprefix("http://")
    return {
        "start": start,
        "end": start + len(short),
        "url": short,
        "expanded_url": expanded,
        "display_url": display,
    }


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _personal_bio(rng: random.Random) -> str:
    role = rng.choice(_ROLES)
    org = rng.choice(_ORGS)
    head = (
        f"{role} at {org}."
        if rng.random() < 0.7
        else f"{role}. {_sentence_case(rng.choice(_TOPICS))}."
    )
    tail = rng.choice(_PERSONAL_TAILS).format(
        org=rng.choice(_ORGS), topic=rng.choice(_TOPICS), n=rng.randrange(5, 120)
    )
    return f"{head} {tail}".strip()


def _verified_type(kind: str, rng: random.Random) -> str:
    draw = rng.random()
    if kind == "brand":
        thresholds = ((0.20, "business"), (0.23, "government"), (0.43, "blue"))
    else:
        thresholds = ((0.01, "business"), (0.013, "government"), (0.213, "blue"))
    for bound, verified_type in thresholds:
        if draw < bound:
            return verified_type
    return "none"


_FOLLOWER_SHIFT: Final = {"none": 0.0, "blue": 0.9, "business": 1.6, "government": 1.8}


def _public_metrics(verified_type: str, created_s: int, rng: random.Random) -> dict[str, int]:
    log_followers = rng.gauss(7.3 + _FOLLOWER_SHIFT[verified_type], 2.3)
    followers = min(int(math.exp(log_followers)), _MAX_FOLLOWERS)
    relative = log_followers - 7.3
    age_years = max((_CREATED_TO - created_s) / (365.25 * 86400), 0.05)
    following = int(math.exp(5.8 + 0.15 * relative + rng.gauss(0.0, 1.2)))
    # the platform caps following at 5000 until an account has a comparable audience
    following = min(following, max(5_000, int(followers * 1.1)))
    tweets = int(
        math.exp(6.7 + 0.35 * relative + 0.5 * math.log(age_years + 0.5) + rng.gauss(0.0, 1.3))
    )
    listed = int(followers * math.exp(rng.gauss(math.log(0.008), 0.9)))
    likes = int(tweets * math.exp(rng.gauss(0.3, 1.2)))
    media = int(tweets * rng.uniform(0.02, 0.35))
    return {
        "followers_count": followers,
        "following_count": following,
        "tweet_count": tweets,
        "listed_count": listed,
        "like_count": likes,
        "media_count": media,
    }


def synthetic_user(handle: str, seed: int = 0) -> dict[str, Any]:
    """The full synthetic user object for ``handle`` (whatever :func:`handle_status` says).

    The ``username`` is the profile's canonical capitalisation, which need not match ``handle``.
    """
    key = handle.lower()
    rng = _rng(_digest("user", seed, key))
    username = _canonical_case(key, rng)
    created_s = rng.randrange(_CREATED_FROM, _CREATED_TO)
    user_id = _user_id(created_s, rng)

    kind_draw = rng.random()
    kind = (
        "personal"
        if kind_draw < 0.72
        else "brand"
        if kind_draw < 0.82
        else "risky"
        if kind_draw < 0.90
        else "empty"
    )
    name = _display_name(username)
    if kind == "brand":
        if rng.random() < 0.3:
            name = f"{name} Official"
        description = rng.choice(_BRAND_BIOS).format(name=_display_name(username))
    elif kind == "risky":
        description = rng.choice(_RISKY_BIOS)
        if rng.random() < 0.5:
            name = f"{rng.choice('🔥💰🚀💯')} {name}"
    elif kind == "personal":
        description = _personal_bio(rng)
    else:
        description = ""

    verified_type = _verified_type(kind, rng)
    user: dict[str, Any] = {
        "id": str(user_id),
        "username": username,
        "name": name,
        "created_at": iso_timestamp(created_s),
        "description": description,
        "protected": rng.random() < 0.03,
        "verified": verified_type != "none",
        "verified_type": verified_type,
        "public_metrics": _public_metrics(verified_type, created_s, rng),
        "profile_image_url": (
            f"https://pbs.twimg.com/profile_images/{_snowflake(created_s + 3600, rng)}/"
            f"{''.join(rng.choices(_ALNUM, k=8))}_normal.jpg"
        ),
    }
    if rng.random() < 0.6:
        user["location"] = rng.choice(_LOCATIONS)

    entities: dict[str, Any] = {}
    if kind != "empty" and rng.random() < 0.35:
        short = _tco(rng)
        expanded = (
            f"https://{key.replace('_', '')}.example.com"
            if kind == "brand"
            else f"https://example.com/@{key}"
        )
        user["url"] = short
        entities["url"] = {"urls": [_url_entity(short, expanded, 0)]}
    if kind == "risky" and "link below" in description:
        short = _tco(rng)
        start = len(description) + 1
        user["description"] = f"{description} {short}"
        expanded = f"https://giveaway.example.net/{key}"
        entities["description"] = {"urls": [_url_entity(short, expanded, start)]}
    if entities:
        user["entities"] = entities

    if rng.random() < 0.35:
        pinned_s = rng.uniform(max(created_s, _SNOWFLAKE_USER_IDS_FROM), _PINNED_UNTIL)
        user["pinned_tweet_id"] = str(_snowflake(pinned_s, rng))
    user[ORIGIN_FIELD] = ORIGIN_SYNTHETIC
    return user


def pinned_tweet(tweet_id: str, *, author_id: str, seed: int = 0) -> dict[str, Any]:
    """A deterministic post object for a pinned post id (every field the server can return).

    ``created_at`` is decoded from the snowflake id when it has one, so recorded users' real
    pinned ids get their real posting time.
    """
    rng = _rng(_digest("tweet", seed, tweet_id))
    epoch_s = snowflake_epoch_s(int(tweet_id)) if tweet_id.isdigit() else None
    if epoch_s is None:
        epoch_s = rng.uniform(_CREATED_FROM, _SNOWFLAKE_USER_IDS_FROM)
    likes = int(math.exp(rng.gauss(3.0, 2.0)))
    return {
        "id": tweet_id,
        "text": rng.choice(_TWEET_TEXTS).format(topic=rng.choice(_TOPICS)),
        "edit_history_tweet_ids": [tweet_id],
        "created_at": iso_timestamp(epoch_s),
        "author_id": author_id,
        "lang": "en",
        "public_metrics": {
            "retweet_count": int(likes * rng.uniform(0.05, 0.4)),
            "reply_count": int(likes * rng.uniform(0.01, 0.2)),
            "like_count": likes,
            "quote_count": int(likes * rng.uniform(0.0, 0.05)),
            "bookmark_count": int(likes * rng.uniform(0.0, 0.1)),
            "impression_count": int(likes * rng.uniform(20, 200)),
        },
    }


def iter_synthetic_handles(seed: int = 0) -> Iterator[str]:
    """An endless stream of distinct, valid, lower-case handles (``annakim``, ``ivan_s2``...).

    A handle is a name part (no digits, at most :data:`_HANDLE_BASE_LENGTH` characters) drawn
    from first and last names, plus the number of earlier handles with that name part (none for
    the first, then 1, 2... up to 9999), the way people take ``annakim7`` when ``annakim`` is
    gone. Name part and suffix split apart unambiguously (the suffix is the trailing digits), so
    handles are distinct; suffixes stay short at any count (about 30,000 name parts; a name part
    whose 10,000 suffixes are used up is drawn no more), so they never look like the generated
    ``name123456`` handles of bot farms. The stream depends on ``seed`` only.
    """
    rng = _rng(_digest("handles", seed))
    taken: dict[str, int] = {}
    while True:
        first = rng.choice(_FIRST_NAMES)
        last = rng.choice(_LAST_NAMES)
        style = rng.choice(_HANDLE_STYLES)
        base = style.format(f=first, l=last, f0=first[0], l0=last[0])[:_HANDLE_BASE_LENGTH]
        earlier = taken.get(base, 0)
        if earlier >= _SUFFIXES_PER_BASE:
            continue
        taken[base] = earlier + 1
        yield base + (str(earlier) if earlier else "")


def synthetic_handles(count: int, seed: int = 0) -> list[str]:
    """The first ``count`` handles of :func:`iter_synthetic_handles`."""
    return list(itertools.islice(iter_synthetic_handles(seed), count))


def synthetic_profiles(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` synthetic user objects, exactly as the server would serve them in full.

    They belong to the first handles of :func:`iter_synthetic_handles` whose status is ``active``
    (not-found and suspended handles are skipped), so every profile can also be fetched by its
    ``username`` from a server running with the same seed.
    """
    profiles: list[dict[str, Any]] = []
    for handle in iter_synthetic_handles(seed):
        if len(profiles) >= count:
            break
        if handle_status(handle, seed) == "active":
            profiles.append(synthetic_user(handle, seed))
    return profiles
