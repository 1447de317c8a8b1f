"""A deterministic synthetic Confluence site for benchmarks (issue 4).

Why synthetic: performance claims need corpora of 10k, 100k and 1M items that anyone can
regenerate byte for byte (same seed, same bytes), with the skew of a real site: a few huge
spaces and many small ones, a vocabulary where a handful of words are everywhere and most
are rare, deep page trees, and policies that hide some spaces from some apps. Uniform data
would flatter every engine (no huge posting lists, no deep subtrees).

The generator streams ``content.jsonl`` to disk and keeps only what later items need (tree
shape, titles of possible containers), so 1M items fit in modest memory. Names in the site
(space keys, labels, words) depend on the seed, so query mixes refer to them through the
``params`` of the returned manifest (``${space_big}`` etc., see ``benchmarks.queries``); the
manifest is also written to ``corpus.json`` next to the site files (``index.site.loader.load_site``
ignores files it does not know).
"""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "BLOCKED_APP",
    "MANIFEST_FILE",
    "TYPE_MIX",
    "write_corpus",
]

#: The item type mix of issue 4 (percent).
TYPE_MIX: tuple[tuple[str, int], ...] = (
    ("page", 55),
    ("blogpost", 10),
    ("comment", 15),
    ("attachment", 10),
    ("embed", 4),
    ("database", 2),
    ("whiteboard", 2),
    ("folder", 2),
)
N_SPACES = 200
N_USERS = 2_000
N_LABELS = 500
VOCAB_SIZE = 20_000
MAX_DEPTH = 8  # levels of a page tree: a root and up to 7 levels below it
ID_BASE = 100_000
MANIFEST_FILE = "corpus.json"
#: Five years of dates ending at the engine's fixed default clock (index.core.context.DEFAULT_NOW),
#: so relative date functions in the query mix select the same items on every run.
END = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
START = END - timedelta(days=5 * 365 + 1)
#: The app the policies block from some spaces; the query mix runs as it for the
#: "blocked app caller" variants.
BLOCKED_APP = "app-bench-blocked"
CLOUD_ID = "5e1f0c2a-9b7d-4c3e-8a61-bench0000001"

_TREE = ("page", "whiteboard", "database", "embed", "folder")
_COMMENT_CONTAINERS = frozenset({"page", "blogpost"})
_ATTACH_CONTAINERS = frozenset({"page", "blogpost", "whiteboard", "database"})
_HAS_BODY = frozenset({"page", "blogpost", "comment", "whiteboard", "database"})
_STATUSES = (("current", 94), ("draft", 3), ("archived", 2), ("trashed", 1))
_PAGE_STATUSES = ("rough draft", "in progress", "ready for review", "verified")
_OFFSETS = tuple(
    timezone(timedelta(minutes=m)) if m else UTC
    for m in (0, 0, 0, 0, 60, 120, 330, -300, -420, 600)
)
_EXTENSIONS = ("pdf", "png", "docx", "xlsx", "csv", "zip", "pptx", "txt")
_MACROS = (  # (name, weight): a few macros are on most pages, most are rare
    ("info", 20), ("code", 15), ("toc", 12), ("children", 10), ("note", 8), ("expand", 8),
    ("status", 7), ("jira", 6), ("excerpt", 5), ("warning", 4), ("panel", 3),
    ("drawio", 1), ("roadmap", 1),
)  # fmt: skip
_RICH = frozenset({"info", "note", "expand", "excerpt", "warning", "panel"})
_LANGUAGES = ("python", "java", "bash", "sql", "yaml", "json")
_FIRST = (
    "Alice", "Bruno", "Chen", "Dana", "Elif", "Farid", "Grace", "Hiro", "Ines", "José",
    "Kofi", "Lena", "Marta", "Nikhil", "Olga", "Pierre", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoë", "Amara", "Björn", "Chloé", "Dmitri",
)  # fmt: skip
_LAST = (
    "Nguyen", "Costa", "Wei", "Smith", "Yılmaz", "Haddad", "Okafor", "Tanaka", "García",
    "Müller", "Mensah", "Novak", "Kowalski", "Sharma", "Ivanova", "Dubois", "Byrne", "Silva",
    "Lindqvist", "Rahman", "Patel", "Horvat", "Zhang", "López", "Demir", "Moreau", "Kim",
)  # fmt: skip
_CATEGORIES = (
    "engineering", "product", "design", "marketing", "sales", "support", "people", "finance",
    "legal", "security", "data", "platform", "mobile", "web", "infra", "research", "ops",
    "internal", "external", "archive", "partners", "training", "onboarding", "releases",
)  # fmt: skip
_ONSETS = (
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
    "z", "br", "cr", "dr", "fl", "gr", "pl", "st", "tr", "sh", "ch", "th", "sp", "bl", "qu",
)  # fmt: skip
_NUCLEI = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "io", "ou", "y")
_CODAS = ("", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "rk", "ct", "mp", "x")
_SUFFIXES = ("s", "ing", "ed", "er", "ation", "ly", "ment", "ness")
_RESERVED = frozenset({"and", "or", "not", "to", "in", "is", "empty", "null", "order", "by"})


def _zipf_cum(n: int, s: float) -> list[float]:
    """Cumulative Zipf weights for ranks 0..n-1 (``random.choices(cum_weights=...)``)."""
    return list(itertools.accumulate(1.0 / (rank + 1) ** s for rank in range(n)))


def _vocabulary(rng: random.Random) -> list[str]:
    """20,000 distinct lower-case pseudo-words in rank order (rank 0 is the most frequent).

    Words come in families (``plorn``, ``plorning``, ``plorned``) so that stemming matters:
    a text query for one form must find the others, as it would in English.
    """
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCAB_SIZE:
        base = "".join(
            rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS)
            for _ in range(rng.choice((1, 2, 2, 2, 3)))
        )
        if len(base) < 3 or len(base) > 12 or base in seen or base in _RESERVED:
            continue
        family = [base] + [base + s for s in rng.sample(_SUFFIXES, rng.choice((0, 1, 1, 2)))]
        for word in family:
            if word not in seen and len(words) < VOCAB_SIZE:
                seen.add(word)
                words.append(word)
    rng.shuffle(words)  # families spread over the ranks
    return words


def _account_id(rng: random.Random) -> str:
    """Atlassian account ids come in two shapes: 24 hex digits, or ``712020:`` + a UUID."""
    if rng.random() < 0.6:
        return f"{rng.getrandbits(96):024x}"
    h = f"{rng.getrandbits(128):032x}"
    return f"712020:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _iso(moment: datetime, rng: random.Random) -> str:
    """An ISO-8601 instant with a UTC offset, in one of several zones, to whole seconds."""
    return moment.astimezone(rng.choice(_OFFSETS)).isoformat(timespec="seconds")


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


class _Generator:
    """Holds the draws that every item needs; one instance writes one corpus."""

    def __init__(self, items: int, seed: int) -> None:
        self.items = items
        self.rng = random.Random(seed)
        self.vocab = _vocabulary(random.Random(f"vocab-{seed}"))
        self.vocab_cum = _zipf_cum(VOCAB_SIZE, 1.0)
        self.types = [name for name, _ in TYPE_MIX]
        self.type_cum = list(itertools.accumulate(weight for _, weight in TYPE_MIX))
        self.status_names = [name for name, _ in _STATUSES]
        self.status_cum = list(itertools.accumulate(weight for _, weight in _STATUSES))
        self.macro_names = [name for name, _ in _MACROS]
        self.macro_cum = list(itertools.accumulate(weight for _, weight in _MACROS))
        self.label_cum = _zipf_cum(N_LABELS, 1.0)
        self.user_cum = _zipf_cum(N_USERS, 0.8)
        self.space_cum = _zipf_cum(N_SPACES, 1.0)

    # --- words ------------------------------------------------------------------------

    def words(self, k: int) -> list[str]:
        return self.rng.choices(self.vocab, cum_weights=self.vocab_cum, k=k)

    def title(self) -> str:
        words = self.words(self.rng.randint(3, 10))
        words[0] = words[0].capitalize()
        return " ".join(words)

    def paragraph(self, words: list[str], mention: str | None) -> str:
        words[0] = words[0].capitalize()
        if len(words) > 8 and self.rng.random() < 0.3:
            at = self.rng.randrange(1, len(words) - 1)
            words[at] = f"<strong>{words[at]}</strong>"
        if mention is not None:
            at = self.rng.randint(1, len(words))
            words.insert(at, f'<ac:link><ri:user ri:account-id="{mention}" /></ac:link>')
        return "<p>" + " ".join(words) + ".</p>"

    def macro(self, name: str, words: list[str]) -> str:
        """A structured macro whose visible text (if any) is ``words``."""
        head = f'<ac:structured-macro ac:name="{name}" ac:schema-version="1">'
        tail = "</ac:structured-macro>"
        if name in _RICH:
            param = ""
            if name in ("expand", "panel"):
                param = f'<ac:parameter ac:name="title">{self.vocab[self.rng.randrange(50)]}'
                param += "</ac:parameter>"
            body = self.paragraph(words, None) if words else "<p></p>"
            return f"{head}{param}<ac:rich-text-body>{body}</ac:rich-text-body>{tail}"
        if name == "code":
            lang = self.rng.choice(_LANGUAGES)
            code = " ".join(words)
            return (
                f'{head}<ac:parameter ac:name="language">{lang}</ac:parameter>'
                f"<ac:plain-text-body><![CDATA[{code}]]></ac:plain-text-body>{tail}"
            )
        if name == "status":
            colour = self.rng.choice(("Green", "Yellow", "Red", "Blue"))
            return (
                f'{head}<ac:parameter ac:name="colour">{colour}</ac:parameter>'
                f'<ac:parameter ac:name="title">{self.vocab[self.rng.randrange(30)]}'
                f"</ac:parameter>{tail}"
            )
        if name == "jira":
            key = f"{self.vocab[self.rng.randrange(100)][:4].upper()}-{self.rng.randrange(9999)}"
            return f'{head}<ac:parameter ac:name="key">{key}</ac:parameter>{tail}'
        return f'<ac:structured-macro ac:name="{name}" ac:schema-version="1" />'

    def body(self, users: list[str]) -> tuple[str, str | None]:
        """A storage-format body of 50-400 words of text; returns (body, first two words)."""
        rng = self.rng
        remaining = self.words(rng.randint(50, 400))
        lead = f"{remaining[0]} {remaining[1]}"
        parts: list[str] = []
        if rng.random() < 0.3:
            heading = self.words(rng.randint(2, 5))
            parts.append("<h2>" + " ".join(heading).capitalize() + "</h2>")
        count = rng.choice((0, 0, 1, 1, 2))
        macros = rng.choices(self.macro_names, cum_weights=self.macro_cum, k=count)
        mention_left = rng.random() < 0.25
        while remaining:
            take = min(len(remaining), rng.randint(20, 60))
            chunk, remaining = remaining[:take], remaining[take:]
            if macros and rng.random() < 0.5:
                name = macros.pop()
                visible = name in _RICH or name == "code"
                parts.append(self.macro(name, chunk if visible else []))
                if visible:
                    continue
            mention = None
            if mention_left:
                mention = users[self.user_index()]
                mention_left = False
            parts.append(self.paragraph(chunk, mention))
        for name in macros:  # macros that found no paragraph to replace: no text of their own
            parts.append(self.macro(name, [] if name not in ("code",) else self.words(3)))
        return "".join(parts), lead

    # --- choices ----------------------------------------------------------------------

    def user_index(self) -> int:
        return self.rng.choices(range(N_USERS), cum_weights=self.user_cum)[0]

    def labels(self, names: list[str]) -> list[str]:
        k = self.rng.choices((0, 1, 2, 3, 4), weights=(30, 30, 20, 12, 8))[0]
        if not k:
            return []
        drawn = self.rng.choices(names, cum_weights=self.label_cum, k=k)
        return list(dict.fromkeys(drawn))


def _spaces(gen: _Generator, users: list[str], names: list[str]) -> list[dict[str, Any]]:
    """200 spaces in size rank order (rank 0 is the largest): mostly global and
    collaboration spaces, every 5th from rank 100 on personal, a few mid-sized archived."""
    rng = gen.rng
    archived = {23, 61, 97, 143, 188}
    spaces: list[dict[str, Any]] = []
    for rank in range(N_SPACES):
        words = [w.capitalize() for w in gen.vocab[rank * 3 + 7 : rank * 3 + 7 + rng.randint(1, 3)]]
        if rank >= 100 and rank % 5 == 0:
            owner = users[rank]
            space: dict[str, Any] = {
                "key": f"~{owner}",
                "name": names[rank],
                "type": "personal",
            }
        else:
            kind = rng.choices(("global", "collaboration", "knowledge_base"), (60, 25, 15))[0]
            space = {
                "key": "".join(w[0] for w in words).upper() + str(rank),
                "name": " ".join(words),
                "type": kind,
            }
        if rank in archived:
            space["status"] = "archived"
        cats = rng.sample(_CATEGORIES, rng.choice((0, 1, 1, 2, 3)))
        if cats:
            space["categories"] = cats
        space["description"] = " ".join(gen.words(rng.randint(5, 20))).capitalize() + "."
        spaces.append(space)
    return spaces


def _users(gen: _Generator) -> list[dict[str, Any]]:
    rng = gen.rng
    accounts: list[str] = []
    seen: set[str] = set()
    while len(accounts) < N_USERS:
        account = _account_id(rng)
        if account not in seen:
            seen.add(account)
            accounts.append(account)
    users = []
    for index, account in enumerate(accounts):
        first, last = _FIRST[index % len(_FIRST)], _LAST[(index * 7 + index // 30) % len(_LAST)]
        users.append(
            {
                "account_id": account,
                "display_name": f"{first} {last}",
                "favourite_spaces": [],
                "favourite_content": [],
                "recently_viewed_content": [],
                "recently_viewed_spaces": [],
            }
        )
    return users


def _fill_activity(
    gen: _Generator, users: list[dict[str, Any]], items: int, keys: list[str]
) -> None:
    """Favourites and recently viewed lists: drawn after the spaces exist (keys known)."""
    rng = gen.rng
    def space_draw(k: int) -> list[str]:
        return list(dict.fromkeys(rng.choices(keys, cum_weights=gen.space_cum, k=k)))

    for user in users:
        user["favourite_spaces"] = space_draw(rng.randint(0, 5))
        user["favourite_content"] = sorted(
            {str(ID_BASE + rng.randrange(items)) for _ in range(rng.randint(0, 10))}
        ) if items else []
        user["recently_viewed_content"] = list(
            dict.fromkeys(str(ID_BASE + rng.randrange(items)) for _ in range(rng.randint(0, 20)))
        ) if items else []
        user["recently_viewed_spaces"] = space_draw(rng.randint(0, 8))


def _policies(keys: list[str], app_users: list[str]) -> tuple[list[Any], list[Any], list[Any]]:
    """Apps, policies and grants: the blocked app loses 25 spaces (ranks 1, 2 and a spread
    of smaller ones) through a blocklist and an allowlist; a workspace-wide block stays
    inactive (so it must not count), and one app is exempt from blocking."""
    apps = [
        {"app_id": BLOCKED_APP, "kind": "forge", "name": "Bench Sync",
         "eligible_for_blocking": True},
        {"app_id": "app-bench-allowed", "kind": "connect", "name": "Bench Reports",
         "eligible_for_blocking": True},
        {"app_id": "app-bench-exempt", "kind": "forge", "name": "Bench Exempt",
         "eligible_for_blocking": False},
    ]  # fmt: skip
    block_ranks = [1, 4, 9, 16, 25, 36, 49, 64, 81, 100, 121, 144, 169, 196, 13]
    allow_ranks = [2, 30, 31, 32, 33, 34, 35, 37, 38, 39]
    policies = [
        {
            "id": "bench-block",
            "name": "Block Bench Sync from regulated spaces",
            "active": True,
            "coverage": {"level": "CONTAINER", "spaces": [keys[r] for r in block_ranks]},
            "rules": {"app_access": {"mode": "blocklist", "apps": [BLOCKED_APP]}, "export": True},
        },
        {
            "id": "bench-allow",
            "name": "Only reporting apps in finance",
            "active": True,
            "coverage": {"level": "CONTAINER", "spaces": [keys[r] for r in allow_ranks]},
            "rules": {"app_access": {"mode": "allowlist", "apps": ["app-bench-allowed"]}},
        },
        {
            "id": "bench-freeze",
            "name": "Workspace app freeze (draft)",
            "active": False,
            "coverage": {"level": "WORKSPACE"},
            "rules": {"app_access": {"mode": "allowlist", "apps": []}},
        },
        {
            "id": "bench-anon",
            "name": "No anonymous access to people spaces",
            "active": True,
            "coverage": {"level": "CONTAINER", "spaces": [keys[r] for r in (5, 6, 7)]},
            "rules": {"anonymous_access": True},
        },
    ]
    grants = [
        {"account_id": account, "app_id": BLOCKED_APP, "scope": "account"} for account in app_users
    ]
    return apps, policies, grants


def write_corpus(
    out_dir: Path, items: int, seed: int = 7, progress: bool = False
) -> dict[str, Any]:
    """Write a synthetic site of ``items`` content items to ``out_dir``; return its manifest.

    Deterministic: the same ``items`` and ``seed`` give the same bytes in every file. The
    manifest (also written to ``corpus.json``) holds counts and the ``params`` that query
    mixes substitute (``${space_big}``...), since names depend on the seed.
    """
    if items < 0:
        raise ValueError("items must be >= 0")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = _Generator(items, seed)

    users = _users(gen)
    accounts = [u["account_id"] for u in users]
    names = [u["display_name"] for u in users]
    spaces = _spaces(gen, accounts, names)
    keys = [s["key"] for s in spaces]
    _fill_activity(gen, users, items, keys)
    labels = _label_names(gen)

    # Permissions come from their own generator, so that the content stays byte for byte
    # what it was before the corpus had any (the params of the query mix depend on it).
    perm_rng = random.Random(seed * 7919 + 13)
    groups = _permissions(perm_rng, spaces, users)
    with (out_dir / "spaces.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(_dump(s) for s in spaces)
    with (out_dir / "users.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(_dump(u) for u in users)
    with (out_dir / "groups.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(_dump(g) for g in groups)

    with (out_dir / "content.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        shape = _write_content(gen, fh, items, keys, accounts, labels, progress)
    restricted = _restrict(perm_rng, out_dir / "content.jsonl", groups, accounts)

    app_users = accounts[:5]
    apps, policies, grants = _policies(keys, app_users)
    site = {"cloud_id": CLOUD_ID, "name": "Bench Corp", "base_url": "https://bench.example/wiki",
            "anonymous_access": True}
    for name, value in (
        ("apps.json", apps),
        ("policies.json", policies),
        ("grants.json", grants),
        ("site.json", site),
    ):
        (out_dir / name).write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")

    blocked = sorted(
        {keys[r] for r in (1, 4, 9, 16, 25, 36, 49, 64, 81, 100, 121, 144, 169, 196, 13)}
        | {keys[r] for r in (2, 30, 31, 32, 33, 34, 35, 37, 38, 39)}
    )
    vocab = gen.vocab
    fuzzy_src = next(w for w in vocab[300:] if len(w) >= 7 and w.isalpha())
    fuzzy = fuzzy_src[:3] + ("a" if fuzzy_src[3] != "a" else "e") + fuzzy_src[4:]
    prefix_src = next(w for w in vocab[150:] if len(w) >= 6)
    wild_src = next(w for w in vocab[120:] if len(w) >= 6 and w != prefix_src)
    known = set(vocab)
    inflected = next(w for w in vocab[200:] if w.endswith("ing") and w[:-3] in known)
    params: dict[str, str] = {
        "space_big": keys[0],
        "space_mid": keys[10],
        "space_small": keys[151],
        "space_blocked": keys[1],
        "space_other": keys[3],
        "space_personal": keys[100],
        "label_common": labels[0],
        "label_mid": labels[20],
        "label_rare": labels[300],
        "label_2": labels[1],
        "label_3": labels[2],
        "user_top": accounts[0],
        "user_mid": accounts[50],
        "user_rare": accounts[1500],
        "word_top": vocab[0],
        "word_common": vocab[10],
        "word_mid": vocab[300],
        "word_mid2": vocab[301],
        "word_rare": vocab[5000],
        "word_prefix": prefix_src[:4],
        "word_fuzzy": fuzzy,
        "word_inflected": inflected,
        "word_wild": wild_src[:2] + "?" + wild_src[3:5] + "*",
        "space_title_word": spaces[10]["name"].split()[0],
        "phrase": shape["phrase"],
        "title_exact": shape["title_exact"],
        "page_root": shape["page_root"],
        "page_mid": shape["page_mid"],
        "page_parent": shape["page_parent"],
        "app_user": app_users[0],
    }
    manifest = {
        "format": 1,
        "items": items,
        "seed": seed,
        "spaces": len(spaces),
        "users": len(users),
        "types": shape["types"],
        "max_depth": shape["max_depth"],
        "groups": len(groups),
        "restricted_items": restricted,
        "blocked_app": {"app_id": BLOCKED_APP, "kind": "forge", "acting_for": app_users[0],
                        "scopes": ["search:confluence"], "blocked_spaces": blocked},
        "params": params,
    }  # fmt: skip
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


#: Space ranks the query mix relies on (params): always open to every licensed user.
_OPEN_RANKS = frozenset({0, 1, 2, 3, 10, 100, 151})
#: The one space anonymous callers may view (the site switch is on).
_ANONYMOUS_RANK = 11
N_GROUPS = 50
N_GUESTS = 10


def _permissions(rng: random.Random, spaces: list[dict[str, Any]],
                 users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups, space grants and guests (docs/permissions.md), in place on ``spaces`` and
    ``users``; returns the groups. Every user is in one to three of 50 teams; a quarter of
    the spaces are team spaces (view for a few teams, one admin team), a few are open to
    all licensed users with named admins, one is also open to anonymous callers, and the
    last ten accounts are single-space guests of open spaces."""
    names = [f"team-{n:02d}" for n in range(N_GROUPS)]
    members: dict[str, list[str]] = {name: [] for name in names}
    for user in users:
        for name in rng.sample(names, rng.randint(1, 3)):
            members[name].append(user["account_id"])
    for rank, space in enumerate(spaces):
        if rank == _ANONYMOUS_RANK:
            space["permissions"] = {
                "view": {"anonymous": True, "all_licensed_users": True},
                "administer": {"groups": [names[0]]}}
        elif rank in _OPEN_RANKS or space["type"] == "personal":
            continue
        elif rng.random() < 0.25:
            space["permissions"] = {
                "view": {"groups": rng.sample(names, rng.randint(2, 6)),
                         "users": [u["account_id"] for u in rng.sample(users, 2)]},
                "administer": {"groups": [rng.choice(names)]}}
        elif rng.random() < 0.2:
            space["permissions"] = {
                "view": {"all_licensed_users": True},
                "administer": {"users": [u["account_id"] for u in rng.sample(users, 2)]}}
    open_keys = [s["key"] for r, s in enumerate(spaces)
                 if "permissions" not in s and s["type"] != "personal"]
    for user in users[-N_GUESTS:]:
        user["kind"] = "guest"
        user["guest_space"] = rng.choice(open_keys)
    return [{"name": name, "members": members[name]} for name in names]


def _restrict(rng: random.Random, path: Path, groups: list[dict[str, Any]],
              accounts: list[str]) -> int:
    """Add read restrictions to about one in 200 pages and blog posts (a team or two, a
    person or two); rewrites the content file. Returns how many items were restricted."""
    names = [g["name"] for g in groups]
    staged = path.with_name(path.name + ".tmp")
    count = 0
    with path.open(encoding="utf-8") as src, staged.open("w", encoding="utf-8",
                                                         newline="\n") as out:
        for raw in src:
            line = json.loads(raw)
            if line["type"] in ("page", "blogpost", "folder") and rng.random() < 0.005:
                line["read_restrictions"] = {
                    "groups": rng.sample(names, rng.randint(1, 2)),
                    "users": rng.sample(accounts, rng.randint(0, 2))}
                count += 1
                raw = _dump(line)
            out.write(raw)
    staged.replace(path)
    return count


def _label_names(gen: _Generator) -> list[str]:
    """500 labels in frequency rank order: words of the site, some hyphenated pairs."""
    rng = gen.rng
    out: list[str] = []
    seen: set[str] = set()
    pool = gen.vocab[100:]
    while len(out) < N_LABELS:
        word = rng.choice(pool)
        if rng.random() < 0.3:
            word = f"{word}-{rng.choice(pool)}"
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


def _write_content(
    gen: _Generator,
    fh: TextIO,
    items: int,
    keys: list[str],
    accounts: list[str],
    labels: list[str],
    progress: bool,
) -> dict[str, Any]:
    """Stream ``items`` content lines; return what the manifest needs about their shape."""
    rng = gen.rng
    span = (END - START).total_seconds() - 86_400  # leave a day of edits before END
    tree: list[list[int]] = [[] for _ in range(N_SPACES)]  # per space: tree items (depth < 7)
    comment_hosts: list[list[int]] = [[] for _ in range(N_SPACES)]
    attach_hosts: list[list[int]] = [[] for _ in range(N_SPACES)]
    up: dict[int, int] = {}  # item -> parent or container (only for linked items)
    depth: dict[int, int] = {}  # tree items only
    titles: dict[int, str] = {}  # possible comment hosts only
    below = [0] * items  # descendants (tree children, comments, attachments) per item
    children = [0] * items
    space_of = bytearray(items)  # space rank of each item (ranks < 256)
    types: dict[str, int] = {name: 0 for name, _ in TYPE_MIX}
    phrase = title_exact = None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=items, unit="item", desc="corpus", leave=False)

    for i in range(items):
        kind = rng.choices(gen.types, cum_weights=gen.type_cum)[0]
        srank = rng.choices(range(N_SPACES), cum_weights=gen.space_cum)[0]
        host = None
        if kind == "comment":
            hosts = comment_hosts[srank]
            host = hosts[rng.randrange(len(hosts))] if hosts else None
        elif kind == "attachment":
            hosts = attach_hosts[srank]
            host = hosts[rng.randrange(len(hosts))] if hosts else None
        if kind in ("comment", "attachment") and host is None:
            kind = "page"  # nothing to hang it on yet: the space's first items are pages
        types[kind] += 1
        item_id = str(ID_BASE + i)
        created = START + timedelta(seconds=int((i + rng.random()) / max(items, 1) * span))
        creator = accounts[gen.user_index()]
        status = rng.choices(gen.status_names, cum_weights=gen.status_cum)[0]
        line: dict[str, Any] = {"id": item_id, "type": kind}
        if status != "current":
            line["status"] = status
        parent = None
        if kind in _TREE:
            candidates = tree[srank]
            if candidates and rng.random() > 0.04:
                parent = candidates[rng.randrange(len(candidates))]
        if kind == "attachment":
            title = f"{gen.words(1)[0]}-{gen.words(1)[0]}.{rng.choice(_EXTENSIONS)}"
        elif kind == "comment":
            assert host is not None
            title = f"Re: {titles[host]}"
        else:
            title = gen.title()
        line["title"] = title
        line["space"] = keys[srank]
        if parent is not None:
            line["parent_id"] = str(ID_BASE + parent)
        if host is not None:
            line["container_id"] = str(ID_BASE + host)
        line["creator"] = creator
        line["created"] = _iso(created, rng)
        if rng.random() < 0.7:
            edited = created + timedelta(seconds=int(rng.expovariate(1 / (30 * 86_400))))
            line["lastmodified"] = _iso(min(edited, END - timedelta(seconds=1)), rng)
        others = [accounts[gen.user_index()] for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 4)))]
        contributors = list(dict.fromkeys([creator, *others]))
        line["contributors"] = contributors
        item_labels = gen.labels(labels)
        if item_labels:
            line["labels"] = item_labels
        watchers = list(dict.fromkeys(accounts[gen.user_index()] for _ in range(rng.randint(0, 3))))
        if watchers:
            line["watchers"] = watchers
        if kind in _HAS_BODY:
            body, lead = gen.body(accounts)
            line["body"] = body
            if phrase is None and i >= items // 2:
                phrase = lead
        if kind == "page" and rng.random() < 0.25:
            line["page_status"] = rng.choice(_PAGE_STATUSES)
        if kind == "attachment":
            line["file_name"] = title
        if kind == "embed":
            line["url"] = f"https://{gen.words(1)[0]}.example/{gen.words(1)[0]}"
        if kind == "page" and rng.random() < 0.1:
            line["properties"] = {"wordcount_addon": {"wordCount": rng.randint(50, 400)}}
        fh.write(_dump(line))

        # Remember the shape later items and the manifest need.
        if title_exact is None and kind == "page" and i >= items // 3 and status == "current":
            title_exact = title
        link = parent if parent is not None else host
        space_of[i] = srank
        if link is not None:
            up[i] = link
            children[link] += 1
            node: int | None = link
            while node is not None:
                below[node] += 1
                node = up.get(node)
        if kind in _TREE:
            d = depth[parent] + 1 if parent is not None else 0
            depth[i] = d
            if d < MAX_DEPTH - 1:
                tree[srank].append(i)
        if kind in _COMMENT_CONTAINERS:
            comment_hosts[srank].append(i)
            titles[i] = title
        if kind in _ATTACH_CONTAINERS:
            attach_hosts[srank].append(i)
        if bar is not None and i % 1000 == 999:
            bar.update(1000)
    if bar is not None:
        bar.update(items % 1000)
        bar.close()

    def pick(ids: list[int]) -> str:
        return str(ID_BASE + ids[0]) if ids else str(ID_BASE)

    big_roots = sorted(
        (i for i in depth if depth[i] == 0 and space_of[i] == 0),
        key=lambda i: (-below[i], i),
    )
    target = max(20, items // 200)
    mids = sorted((i for i in depth if depth[i] == 2), key=lambda i: (abs(below[i] - target), i))
    parents = [max(range(items), key=lambda i: (children[i], -i))] if items else []
    return {
        "types": types,
        "max_depth": (max(depth.values()) + 1) if depth else 0,
        "phrase": phrase or "",
        "title_exact": title_exact or "",
        "page_root": pick(big_roots),
        "page_mid": pick(mids),
        "page_parent": pick(parents),
    }
