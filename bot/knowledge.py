"""Load and validate the knowledge/ folder: policy, sections, lexicon, routes and messages."""

from __future__ import annotations

import string
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import KnowledgeError
from bot.policy import Policy, parse_policy

POLICY_FILE = "policy.da.md"
TICKETS_FILE = "tickets.toml"
# the keys [mail.en] and [mail.da] of tickets.toml must have, and the {placeholders} each may use
TICKET_MAIL_KEYS: dict[str, frozenset[str]] = {
    key: frozenset(names.split())
    for key, names in {
        "ack_subject": "ticket", "ack_subject_reply": "subject ticket", "greeting": "name",
        "greeting_anonymous": "", "ack_intro": "kind ticket", "next_heading": "",
        "identity_step": "", "on_behalf_step": "", "deadline_step": "due",
        "clause_intro": "section title", "signature": "", "extension_subject": "ticket",
        "extension_body": "ticket reason received due",
    }.items()
}  # fmt: skip
# the keys [email.en] and [email.da] of messages.toml must have (the email door's replies)
EMAIL_KEYS: dict[str, frozenset[str]] = {
    "greeting": frozenset({"name"}), "greeting_anonymous": frozenset(), "intro": frozenset(),
    "intro_many": frozenset(), "asked": frozenset({"question"}), "not_covered": frozenset(),
    "footer": frozenset(), "signature": frozenset(), "no_subject": frozenset(),
}  # fmt: skip


@dataclass(frozen=True)
class SectionInfo:
    """What we wrote about one leaf section: English title, direct answers, routes, samples."""

    id: str
    title_en: str
    answer_en: str
    answer_da: str
    routes: tuple[str, ...]
    questions_en: tuple[str, ...]
    questions_da: tuple[str, ...]
    title_da: str | None = None  # for a section whose policy text has no heading of its own


@dataclass(frozen=True)
class Concept:
    """A lexicon concept: the words for it in both languages and where the policy covers it."""

    name: str
    en: tuple[str, ...]
    da: tuple[str, ...]
    sections: dict[str, float]
    weight: float
    routes: tuple[str, ...] = ()
    note_en: str | None = None
    note_da: str | None = None
    role: bool = (
        False  # who asks (an applicant, a visitor of a customer's site): steers the section
    )


@dataclass(frozen=True)
class Route:
    """A way to act: an address or a self-service step, described in both languages."""

    id: str
    target: str
    how_en: str
    how_da: str
    sections: tuple[str, ...]

    def how(self, lang: str) -> str:
        return self.how_da if lang == "da" else self.how_en


@dataclass(frozen=True)
class Knowledge:
    """Everything in knowledge/, parsed and cross-checked."""

    policy: Policy
    sections: dict[str, SectionInfo]
    concepts: tuple[Concept, ...]
    routes: dict[str, Route]
    messages: dict[str, dict[str, str]]
    kinds: dict[str, dict[str, str]]
    stopwords: dict[str, frozenset[str]]
    requests: dict[str, Any]
    who_asks_sections: frozenset[str] = frozenset()
    human_route: str = "privacy@ciemtech.com"
    email: dict[str, dict[str, str]] = field(default_factory=dict)  # [email.<lang>] wording

    def message(self, lang: str, key: str, **values: object) -> str:
        return self.messages[lang if lang in self.messages else "en"][key].format(**values)


def default_dir() -> Path:
    """The knowledge folder shipped with the package (installed), or the repository's own."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "knowledge", here.parent / "knowledge"):
        if (candidate / POLICY_FILE).is_file():
            return candidate
    raise KnowledgeError(f"no knowledge folder with {POLICY_FILE} next to {here}")


def _toml(folder: Path, name: str) -> dict[str, Any]:
    path = folder / name
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise KnowledgeError(f"{path} is missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise KnowledgeError(f"{path}: {exc}") from None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KnowledgeError(f"{where} must be a list of strings")
    return tuple(value)


def load_knowledge(folder: Path | None = None) -> Knowledge:
    """Read every knowledge file; raise KnowledgeError naming the file and entry that is wrong."""
    folder = folder or default_dir()
    try:
        policy = parse_policy((folder / POLICY_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"cannot read {folder / POLICY_FILE}: {exc}") from None
    routes = {
        rid: Route(rid, r.get("target", ""), r["how_en"], r["how_da"],
                   _strings(r.get("sections", []), f"routes.toml {rid}.sections"))
        for rid, r in _toml(folder, "routes.toml")["route"].items()
    }  # fmt: skip
    sections: dict[str, SectionInfo] = {}
    for raw in _toml(folder, "sections.toml").get("section", []):
        sid = str(raw.get("id"))
        where = f"sections.toml section {sid}"
        if sid not in policy:
            raise KnowledgeError(f"{where}: the policy has no such leaf section")
        try:
            sections[sid] = SectionInfo(
                sid, raw["title_en"], raw["answer_en"], raw["answer_da"],
                _strings(raw.get("routes", []), f"{where}.routes"),
                _strings(raw.get("questions_en", []), f"{where}.questions_en"),
                _strings(raw.get("questions_da", []), f"{where}.questions_da"),
                raw.get("title_da"),
            )  # fmt: skip
        except KeyError as exc:
            raise KnowledgeError(f"{where}: missing {exc}") from None
        _check_routes(sections[sid].routes, routes, where)
    missing = [s for s in policy.ids if s not in sections]
    if missing:
        raise KnowledgeError(f"sections.toml has no entry for policy section(s) {missing}")
    concepts = []
    for name, raw in _toml(folder, "lexicon.toml").get("concept", {}).items():
        where = f"lexicon.toml concept {name}"
        weights = {str(k): float(v) for k, v in raw.get("sections", {}).items()}
        unknown = [k for k in weights if k not in policy]
        if unknown:
            raise KnowledgeError(f"{where}: unknown section(s) {unknown}")
        concept = Concept(
            name, _strings(raw.get("en", []), f"{where}.en"), _strings(raw.get("da", []), f"{where}.da"),
            weights, float(raw.get("weight", 1.0)), _strings(raw.get("routes", []), f"{where}.routes"),
            raw.get("note_en"), raw.get("note_da"), bool(raw.get("role", False)),
        )  # fmt: skip
        _check_routes(concept.routes, routes, where)
        concepts.append(concept)
    messages = _toml(folder, "messages.toml")
    _check_messages(messages)
    language = _toml(folder, "language.toml")
    stopwords = {
        k: frozenset(_strings(v, f"language.toml {k}")) for k, v in language["stopwords"].items()
    }
    requests_path = folder / "requests.toml"
    requests = _toml(folder, "requests.toml") if requests_path.exists() else {}
    return Knowledge(
        policy=policy,
        sections=sections,
        concepts=tuple(concepts),
        routes=routes,
        messages={k: v for k, v in messages.items() if k in ("en", "da")},
        kinds=messages.get("kinds", {}),
        stopwords=stopwords,
        requests=requests,
        who_asks_sections=frozenset(
            _strings(messages.get("who_asks", {}).get("sections", []), "messages.toml who_asks")
        ),
        human_route=_human_route(messages, routes),
        email=_email_wording(messages, folder / "messages.toml"),
    )


def _email_wording(messages: dict[str, Any], path: Path) -> dict[str, dict[str, str]]:
    """The [email.en] and [email.da] tables: every EMAIL_KEYS key, each with its own
    placeholders only."""
    tables = messages.get("email")
    wording: dict[str, dict[str, str]] = {}
    for lang in ("en", "da"):
        table = tables.get(lang) if isinstance(tables, dict) else None
        if not isinstance(table, dict):
            raise KnowledgeError(f"{path}: the [email.{lang}] table is missing")
        missing = [k for k in EMAIL_KEYS if not isinstance(table.get(k), str)]
        if missing:
            raise KnowledgeError(f"{path}: [email.{lang}] lacks {', '.join(missing)}")
        for key, allowed in EMAIL_KEYS.items():
            _check_placeholders(table[key], allowed, f"{path}: email.{lang}.{key}")
        wording[lang] = {k: table[k] for k in EMAIL_KEYS}
    return wording


_PLACEHOLDERS = {"section": "5.3", "title": "t", "date": "d", "sections": "11", "kind": "k"}


def _check_messages(messages: dict[str, Any]) -> None:
    """Every fixed sentence formats with the placeholders the bot fills in."""
    for lang in ("en", "da"):
        table = messages.get(lang)
        if not isinstance(table, dict):
            raise KnowledgeError(f"messages.toml has no [{lang}] table")
        for key, text in table.items():
            try:
                str(text).format(**_PLACEHOLDERS)
            except (KeyError, IndexError, ValueError) as exc:
                raise KnowledgeError(
                    f"messages.toml [{lang}] {key}: bad placeholder {exc}; allowed: "
                    + ", ".join("{" + p + "}" for p in _PLACEHOLDERS)
                ) from None
    missing = set(messages["en"]) ^ set(messages["da"])
    if missing:
        raise KnowledgeError(f"messages.toml: {sorted(missing)} must be in both [en] and [da]")


def _human_route(messages: dict[str, Any], routes: dict[str, Route]) -> str:
    route = str(messages.get("human", {}).get("route", "privacy@ciemtech.com"))
    _check_routes((route,), routes, "messages.toml [human] route")
    return route


def _check_routes(ids: tuple[str, ...], routes: dict[str, Route], where: str) -> None:
    unknown = [r for r in ids if r not in routes]
    if unknown:
        raise KnowledgeError(f"{where}: unknown route(s) {unknown}")


def load_tickets_toml(
    folder: Path | None = None, *, kinds: Collection[str], routes: Collection[str] | None = None
) -> dict[str, Any]:
    """Read and check tickets.toml (against the request `kinds` and, when given, route ids);
    raise KnowledgeError naming the file and the key that is wrong."""
    folder = folder or default_dir()
    path = folder / TICKETS_FILE
    raw = _toml(folder, TICKETS_FILE)
    for name in ("on_behalf", "route_notes", "kind_titles", "mail"):
        if not isinstance(raw.get(name, {}), dict):
            raise KnowledgeError(f"{path}: [{name}] must be a table")
    for key in ("en", "da", "except"):
        phrases = raw.get("on_behalf", {}).get(key, [])
        if not isinstance(phrases, list) or not all(isinstance(v, str) for v in phrases):
            raise KnowledgeError(f"{path}: on_behalf.{key} must be a list of strings")
    for table, known, what in (("route_notes", routes, "route"), ("kind_titles", kinds, "kind")):
        for key, value in raw.get(table, {}).items():
            if known is not None and key not in known:
                raise KnowledgeError(f"{path}: {table}.{key}: unknown {what} {key!r}")
            if not isinstance(value, str):
                raise KnowledgeError(f"{path}: {table}.{key} must be a string")
    for lang in ("en", "da"):
        mail = raw.get("mail", {}).get(lang, {})
        missing = [k for k in TICKET_MAIL_KEYS if not isinstance(mail.get(k), str)]
        if missing:
            raise KnowledgeError(f"{path}: [mail.{lang}] lacks {', '.join(missing)}")
        for key, allowed in TICKET_MAIL_KEYS.items():
            _check_placeholders(mail[key], allowed, f"{path}: mail.{lang}.{key}")
    return raw


def _check_placeholders(template: str, allowed: frozenset[str], where: str) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise KnowledgeError(f"{where}: {exc} (write {{{{ and }}}} for a brace)") from None
    unknown = sorted({f for f in fields if f not in allowed})
    if unknown:
        shown = ", ".join(f"{{{f}}}" for f in unknown)
        can = ", ".join(f"{{{f}}}" for f in sorted(allowed)) or "none"
        raise KnowledgeError(f"{where} uses unknown placeholder(s) {shown}; it may use {can}")
