"""The embedded server's synthetic List graph: Lists, their members, and each member's Lists.

Every value is a pure function of the config (``seed``, ``list_count``, ``list_universe``, the
population, ``list_extra_handles``), drawn from streams seeded by SHA-256 digests, so two servers
with the same config serve the same Lists, ids, members and pages.

* **Lists** (:func:`list_graph`, :class:`SyntheticList`): ``list_count`` of them about the topics
  of :data:`~influx_etl.apisim.list_topics.TOPICS`. A List's id, name, topic, kind, privacy,
  description, follower count and creation time depend on ``seed`` and its position only, never
  on who its members are, so a List id found once (``influx-api-sim lists``) names the same List
  whatever the population. Sizes are long-tailed (most 12-900 members, about one in twenty 1,000
  to 3,000), one List holds the API's maximum of 5,000 members (or the whole universe when it is
  smaller), one was made and never filled, and about 2 % are private.
* **Members** come from the universe: the first ``list_universe`` active synthetic handles (with
  ``synthetic``), the population's users, and the active ``list_extra_handles``, as exactly the
  user objects the lookup serves for them. ``curated`` Lists draw them strongly weighted by
  ``listed_count`` (so accounts with more followers sit on more Lists, and a List of big accounts
  holds mostly big accounts), ``broad`` ones less so, ``noisy`` ones almost uniformly and with
  more brands and spam, ``organisations`` ones among brand and official accounts; each mostly
  among accounts whose bio or drawn interests match its topic, so Lists of a topic overlap.
* **Pages** of members or memberships are addressed by opaque tokens (:func:`page_token`) that
  carry their offset and a checksum of the resource they page, so a token of one List is
  refused on another.

The graph is built at the first Lists request, not when a server starts (docs/performance.md has
what a build of the default size takes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import itertools
import math
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from influx_etl.apisim.answers import loaded_population
from influx_etl.apisim.contract import MAX_LIST_MEMBERS
from influx_etl.apisim.list_topics import (
    TOPIC_KEYS,
    ListKind,
    draw_topic,
    interests,
    list_description,
    list_name,
)
from influx_etl.apisim.server_config import ApiServerConfig
from influx_etl.apisim.synthetic import (
    TWITTER_EPOCH_MS,
    handle_status,
    iso_timestamp,
    iter_synthetic_handles,
    synthetic_user,
)

PRIVATE_FRACTION: Final = 0.02
# from mid-2018 on, snowflake ids have 19 digits, as most List ids seen today
_LISTS_FROM: Final = int(datetime(2018, 7, 1, tzinfo=UTC).timestamp())
_LISTS_TO: Final = int(datetime(2025, 6, 30, tzinfo=UTC).timestamp())
_KINDS: Final[tuple[ListKind, ...]] = ("curated", "broad", "noisy", "organisations")
_KIND_WEIGHTS: Final = (0.52, 0.05, 0.28, 0.15)
_TOPIC_SHARE: Final[Mapping[ListKind, float]] = {
    "curated": 0.8,
    "broad": 0.6,
    "noisy": 0.3,
    "organisations": 0.5,
}
"""Share of a List's members drawn among accounts interested in its topic (the rest: anyone)."""
_BRAND_BIO: Final = re.compile(r"official|news and updates from|customer service", re.IGNORECASE)
_RISKY_BIO: Final = re.compile(r"follow ?back|giveaway|18\+|nsfw|100x", re.IGNORECASE)
_SAMPLING_ROUNDS: Final = 8
_TOKEN_CHECK_BYTES: Final = 6
_CACHE_SIZE: Final = 4


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()


def _rng(*parts: object) -> random.Random:
    return random.Random(int.from_bytes(_digest(*parts), "big"))


@dataclass(frozen=True)
class SyntheticList:
    """One List of the graph, with every field ``list.fields`` can ask for."""

    id: str
    name: str
    topic: str
    """A key of :data:`~influx_etl.apisim.list_topics.TOPICS` (not an API field)."""
    kind: ListKind
    """How it picked its members (not an API field)."""
    private: bool
    description: str
    owner_id: str
    member_count: int
    follower_count: int
    created_at: str

    def fields(self) -> dict[str, Any]:
        """The List as the API's List object with every field."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "owner_id": self.owner_id,
            "member_count": self.member_count,
            "follower_count": self.follower_count,
            "private": self.private,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class _Plan:
    """What a List is before its members are drawn (independent of the universe)."""

    id: str
    name: str
    topic: str
    kind: ListKind
    private: bool
    target: int
    description: str
    follower_count: int
    created_at: str


def _target(kind: ListKind, rng: random.Random) -> int:
    if kind == "broad":
        return rng.randint(1000, 3000)
    if kind == "organisations":
        return min(max(int(rng.lognormvariate(math.log(60), 0.7)), 8), 400)
    return min(max(int(rng.lognormvariate(math.log(90), 0.85)), 12), 900)


_FOLLOWERS: Final[Mapping[ListKind, tuple[float, float, float]]] = {
    # exponent of the size, then mean and spread of the log factor
    "curated": (0.8, 1.6, 0.9),
    "broad": (0.8, 2.2, 0.7),
    "noisy": (0.5, -0.5, 1.0),
    "organisations": (0.7, 0.8, 0.8),
}


def _plans(count: int, seed: int) -> list[_Plan]:
    order = list(range(count))
    _rng("list-roles", seed).shuffle(order)
    giant = order[0] if count else -1
    empty = order[1] if count > 1 else -1
    private_count = max(round(count * PRIVATE_FRACTION), 1 if count >= 3 else 0)
    private = set(order[2 : 2 + private_count])
    plans: list[_Plan] = []
    ids: set[str] = set()
    for index in range(count):
        rng = _rng("list", seed, index)
        topic = draw_topic(rng)
        kind: ListKind = "broad" if index == giant else rng.choices(_KINDS, _KIND_WEIGHTS)[0]
        target = MAX_LIST_MEMBERS if index == giant else 0 if index == empty else _target(kind, rng)
        created_s = rng.randrange(_LISTS_FROM, _LISTS_TO)
        list_id = str(((created_s * 1000 - TWITTER_EPOCH_MS) << 22) | rng.getrandbits(22))
        while list_id in ids:
            list_id = str(int(list_id) + 1)
        ids.add(list_id)
        exponent, mean, spread = _FOLLOWERS[kind]
        followers = int(target**exponent * math.exp(rng.gauss(mean, spread)))
        plans.append(
            _Plan(
                id=list_id,
                name=list_name(topic, kind, rng, empty=index == empty),
                topic=topic,
                kind=kind,
                private=index in private,
                target=target,
                description=list_description(topic, kind, rng, empty=index == empty),
                follower_count=followers,
                created_at=iso_timestamp(created_s),
            )
        )
    return plans


def _universe(
    config: ApiServerConfig, population: Mapping[str, Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """The List graph's accounts by lower-cased handle, as the lookup answers them."""
    users: dict[str, Mapping[str, Any]] = {}
    seed = config.seed
    if config.synthetic and config.list_universe:
        for handle in iter_synthetic_handles(seed):
            recorded = population.get(handle)
            if recorded is not None:
                users[handle] = recorded
            elif handle_status(handle, seed) == "active":
                users[handle] = synthetic_user(handle, seed)
            if len(users) >= config.list_universe:
                break
    for key, user in population.items():
        users.setdefault(key, user)
    for handle in config.list_extra_handles:
        key = handle.lower()
        if key in users:
            continue
        if key in population:
            users[key] = population[key]
        elif config.synthetic and handle_status(key, seed) == "active":
            users[key] = synthetic_user(key, seed)
    return users


def _metric(user: Mapping[str, Any], name: str) -> int:
    metrics = user.get("public_metrics")
    value = metrics.get(name) if isinstance(metrics, Mapping) else None
    return value if isinstance(value, int) and value > 0 else 0


def _account_kind(user: Mapping[str, Any]) -> str:
    description = user.get("description")
    bio = description if isinstance(description, str) else ""
    if _RISKY_BIO.search(bio):
        return "risky"
    if _BRAND_BIO.search(bio) or user.get("verified_type") in ("business", "government"):
        return "brand"
    return "personal"


def _weight(kind: ListKind, account: str, listed: int, followers: int) -> float:
    if kind == "organisations":
        return math.pow(followers + 1, 0.6) if account == "brand" else 0.0
    if kind == "noisy":
        return math.pow(listed + 1, 0.15) * (1.0 if account == "personal" else 3.0)
    exponent, brand, risky = (0.9, 0.3, 0.01) if kind == "curated" else (0.5, 0.5, 0.05)
    factor = 1.0 if account == "personal" else brand if account == "brand" else risky
    return math.pow(listed + 1, exponent) * factor


@dataclass(frozen=True)
class _Pool:
    indexes: list[int]
    cum: list[float]

    @classmethod
    def of(cls, indexes: list[int], weights: Sequence[float]) -> _Pool:
        kept = [index for index in indexes if weights[index] > 0]
        return cls(kept, list(itertools.accumulate(weights[index] for index in kept)))


class _Sampler:
    """Draws a List's members: weighted, without replacement, from its topic and from anyone."""

    def __init__(self, users: Sequence[Mapping[str, Any]], seed: int) -> None:
        self.interests = [
            interests(
                str(user.get("description") or ""),
                int.from_bytes(_digest("interests", seed, user["id"])[:8], "big"),
            )
            for user in users
        ]
        accounts = [_account_kind(user) for user in users]
        listed = [_metric(user, "listed_count") for user in users]
        followers = [_metric(user, "followers_count") for user in users]
        self.weights = {
            kind: [
                _weight(kind, account, n_listed, n_followers)
                for account, n_listed, n_followers in zip(accounts, listed, followers, strict=True)
            ]
            for kind in _KINDS
        }
        everyone = list(range(len(users)))
        self.everyone = {kind: _Pool.of(everyone, self.weights[kind]) for kind in _KINDS}
        by_topic: list[list[int]] = [[] for _ in TOPIC_KEYS]
        for index, topics in enumerate(self.interests):
            for topic in topics:
                by_topic[topic].append(index)
        self.by_topic = {
            (kind, topic): _Pool.of(by_topic[topic], self.weights[kind])
            for kind in _KINDS
            for topic in range(len(TOPIC_KEYS))
        }

    def sample(self, plan: _Plan, rng: random.Random) -> list[int]:
        anyone = self.everyone[plan.kind]
        topic_index = TOPIC_KEYS.index(plan.topic)
        mine = self.by_topic[plan.kind, topic_index]
        wanted = min(plan.target, len(anyone.indexes))
        share = _TOPIC_SHARE[plan.kind] if mine.indexes else 0.0
        chosen: dict[int, None] = {}
        for _ in range(_SAMPLING_ROUNDS):
            need = wanted - len(chosen)
            if need <= 0:
                break
            batch = 2 * need + 8
            from_topic = round(batch * share)
            draws = rng.choices(anyone.indexes, cum_weights=anyone.cum, k=batch - from_topic)
            if mine.cum:
                draws += rng.choices(mine.indexes, cum_weights=mine.cum, k=from_topic)
            rng.shuffle(draws)
            before = len(chosen)
            chosen = dict.fromkeys(itertools.islice(dict.fromkeys([*chosen, *draws]), wanted))
            if len(chosen) - before < need // 20:
                break  # the draws mostly hit accounts already chosen: fill the rest at once
        need = wanted - len(chosen)
        if need > 0:
            # Efraimidis-Spirakis over the accounts left: the largest log(u) / w of each
            weights = self.weights[plan.kind]
            total_anyone, total_mine = anyone.cum[-1], (mine.cum[-1] if mine.cum else 1.0)
            left = [index for index in anyone.indexes if index not in chosen]
            keys: dict[int, float] = {}
            for index in left:
                share_mine = share / total_mine if topic_index in self.interests[index] else 0.0
                weight = weights[index] * ((1 - share) / total_anyone + share_mine)
                keys[index] = math.log(1.0 - rng.random()) / weight
            chosen.update(dict.fromkeys(heapq.nlargest(need, left, key=keys.__getitem__)))
        members = list(chosen)
        rng.shuffle(members)
        return members


class ListGraph:
    """The Lists of one config, their members (lower-cased handles) and each member's Lists."""

    def __init__(
        self, config: ApiServerConfig, population: Mapping[str, Mapping[str, Any]]
    ) -> None:
        started = time.perf_counter()
        self.seed = config.seed
        self._population = population
        universe = _universe(config, population)
        keys = list(universe)
        users = list(universe.values())
        self._key_by_id = {str(user["id"]): key for key, user in universe.items()}
        sampler = _Sampler(users, config.seed)
        lists: list[SyntheticList] = []
        self._members: dict[str, tuple[str, ...]] = {}
        memberships: dict[str, list[str]] = {}
        for plan in _plans(config.list_count, config.seed):
            rng = _rng("list-members", config.seed, plan.id)
            chosen = sampler.sample(plan, rng)
            # with nobody in the universe the owner is an account outside the graph
            owner_id = (
                str(users[rng.randrange(len(users))]["id"])
                if users
                else str(int(plan.id) - (1 << 30))
            )
            self._members[plan.id] = tuple(keys[index] for index in chosen)
            for index in chosen:
                memberships.setdefault(str(users[index]["id"]), []).append(plan.id)
            lists.append(
                SyntheticList(
                    id=plan.id,
                    name=plan.name,
                    topic=plan.topic,
                    kind=plan.kind,
                    private=plan.private,
                    description=plan.description,
                    owner_id=owner_id,
                    member_count=len(chosen),
                    follower_count=plan.follower_count,
                    created_at=plan.created_at,
                )
            )
        self._lists = tuple(lists)
        self._by_id = {item.id: item for item in lists}
        self._memberships = {user_id: tuple(ids) for user_id, ids in memberships.items()}
        self.build_seconds = time.perf_counter() - started
        """How long building the graph took (wall clock)."""

    def lists(self) -> Sequence[SyntheticList]:
        """Every List, private ones included, in a stable order."""
        return self._lists

    def get(self, list_id: str) -> SyntheticList | None:
        return self._by_id.get(list_id)

    def members(self, list_id: str) -> Sequence[str]:
        """The List's members (lower-cased handles) in page order; empty for an unknown id."""
        return self._members.get(list_id, ())

    def memberships(self, user_id: str) -> Sequence[str]:
        """Ids of the Lists (private ones included) whose members include the user, in the order
        of :meth:`lists`; empty for a user on no List or unknown."""
        return self._memberships.get(user_id, ())

    def accounts(self) -> Sequence[str]:
        """The universe: every account that may be a member (lower-cased handles)."""
        return tuple(self._key_by_id.values())

    def handle_of(self, user_id: str) -> str | None:
        """The lower-cased handle of a user id of the universe, or None when it is not one."""
        return self._key_by_id.get(user_id)

    def user(self, key: str) -> Mapping[str, Any]:
        """The full user object the lookup serves for an account of the universe."""
        recorded = self._population.get(key)
        return recorded if recorded is not None else synthetic_user(key, self.seed)


def build_list_graph(
    config: ApiServerConfig, population: Mapping[str, Mapping[str, Any]] | None = None
) -> ListGraph:
    """Build the graph of ``config`` (uncached); ``population``: the config's, already loaded."""
    return ListGraph(config, loaded_population(config) if population is None else population)


_cache: dict[tuple[Any, ...], tuple[ListGraph, object]] = {}
_cache_lock = threading.Lock()


def _cache_key(config: ApiServerConfig) -> tuple[Any, ...]:
    source = config.population
    population: tuple[Any, ...] | None
    if source is None:
        population = None
    elif isinstance(source, Path | str):
        path = Path(source).resolve()
        try:
            stat = path.stat()
            population = ("file", str(path), stat.st_mtime_ns, stat.st_size)
        except OSError:
            population = ("file", str(path), None, None)
    else:
        population = ("mapping", id(source))
    return (
        config.seed,
        config.synthetic,
        config.list_universe,
        config.list_count,
        config.list_extra_handles,
        population,
    )


def list_graph(
    config: ApiServerConfig, population: Mapping[str, Mapping[str, Any]] | None = None
) -> ListGraph:
    """The graph of ``config``, built once and cached (a few configs at a time)."""
    key = _cache_key(config)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None:
            # the population object is kept with its graph so its id is not reused meanwhile
            cached = (build_list_graph(config, population), config.population)
            if len(_cache) >= _CACHE_SIZE:
                del _cache[next(iter(_cache))]
            _cache[key] = cached
        return cached[0]


def _masked(offset: int, scope: str, resource_id: str, seed: int) -> bytes:
    mask = _digest("page-mask", seed, scope, resource_id)[:4]
    return bytes(a ^ b for a, b in zip(offset.to_bytes(4, "big"), mask, strict=True))


def page_token(scope: str, resource_id: str, offset: int, seed: int) -> str:
    """The opaque ``next_token`` / ``previous_token`` of the page at ``offset`` of a resource
    (``scope``: the endpoint that pages it): the offset, masked, and a checksum of all four."""
    check = _digest("page", seed, scope, resource_id, offset)[:_TOKEN_CHECK_BYTES]
    return base64.b32encode(_masked(offset, scope, resource_id, seed) + check).decode().lower()


def token_offset(token: str, scope: str, resource_id: str, seed: int) -> int | None:
    """The offset a token of :func:`page_token` stands for, or None when it is not one of this
    resource's tokens."""
    try:
        raw = base64.b32decode(token.upper())
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 4 + _TOKEN_CHECK_BYTES:
        return None
    masked = int.from_bytes(raw[:4], "big")
    offset = int.from_bytes(_masked(masked, scope, resource_id, seed), "big")
    return offset if page_token(scope, resource_id, offset, seed) == token else None


__all__ = [
    "PRIVATE_FRACTION",
    "ListGraph",
    "SyntheticList",
    "build_list_graph",
    "list_graph",
    "page_token",
    "token_offset",
]
