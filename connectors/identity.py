"""Who an account is: display names and emails from signatures and user pages.

Wikis name people by login ("amelie.bernier", "Abernier"). The same wikis often say
more: DokuWiki signatures carry the full name and email (``--- //[[amelie.bernier@
cra.example|Amélie Bernier]] 2024/01/02 10:00//``), MediaWiki signatures link a
display name to the user page (``[[User:Abernier|Amélie Bernier]]``), and user pages
start with the person's name. A name is taken for a login only when it plausibly is
that login's owner (:func:`plausible_name`): a signature that quotes someone else, or
a user page headed "About me", says nothing about the account.
"""

from __future__ import annotations

import html
import re
import unicodedata

from bs4 import BeautifulSoup

EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
#: DokuWiki's visible mail guard: "amelie [dot] bernier [at] cra [dot] example"
_GUARDED = re.compile(r"\s*\[(at|dot|dash)\]\s*", re.IGNORECASE)
_HEADING_WIKITEXT = re.compile(r"^\s*=+\s*(.+?)\s*=+\s*$", re.MULTILINE)
_HEADING_DOKU = re.compile(r"^\s*={2,}\s*(.+?)\s*={2,}\s*$", re.MULTILINE)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z]+", _fold(name)) if t]


def plausible_name(name: str, login: str) -> bool:
    """Whether *name* ("Amélie Bernier") can be the owner of *login*.

    Accepted: the login spells the name ("amelie.bernier", "AmelieBernier"), its
    initial and surname ("abernier", "a.bernier"), or the name itself ("Amélie
    Bernier" as a MediaWiki user name). A one-word name or one with digits is not a
    person's name.
    """
    name = " ".join(name.split())
    if not name or any(ch.isdigit() for ch in name) or len(name) > 80:
        return False
    words = _tokens(name)
    if len(words) < 2:
        return False
    spelled = "".join(_tokens(login))
    if not spelled:
        return False
    joined = "".join(words)
    first, last = words[0], words[-1]
    return spelled in (
        joined,
        "".join(reversed(words)),
        first[0] + last,
        last + first[0],
        first + last,
        last + first,
    ) or (spelled.startswith(first[0]) and spelled.endswith(last) and len(spelled) <= len(joined))


def unguard_email(text: str) -> str:
    """'a [dot] b [at] c [dot] org' -> 'a.b@c.org' (DokuWiki's visible mail guard)."""
    marks = {"at": "@", "dot": ".", "dash": "-"}
    return _GUARDED.sub(lambda m: marks[m.group(1).lower()], text.strip())


def mail_links(markup: str) -> list[tuple[str, str]]:
    """(email, linked text) for every mail link of a rendered page (signatures among them)."""
    soup = BeautifulSoup(markup, "lxml")
    found = []
    for link in soup.find_all("a", href=True):
        href = html.unescape(str(link["href"]))
        if not href.lower().startswith("mailto:"):
            continue
        email = unguard_email(href[7:].split("?", 1)[0])
        if EMAIL.fullmatch(email):
            found.append((email.lower(), " ".join(link.get_text(" ").split())))
    return found


def user_links(markup: str, prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(login, linked text) for every link to a user page in rendered MediaWiki HTML.

    *prefixes* are the user namespace's names ("User", "Utilisateur"...). A red link
    (no user page yet) has a title like "User:Abernier (page does not exist)".
    """
    if not prefixes:
        return []
    soup = BeautifulSoup(markup, "lxml")
    names = "|".join(re.escape(p) for p in prefixes)
    pattern = re.compile(rf"^(?:{names}):(.+)$", re.IGNORECASE)
    found = []
    for link in soup.find_all("a", title=True):
        title = str(link["title"])
        if "new" in (link.get("class") or []):
            title = re.sub(r"\s*\([^()]*\)\s*$", "", title)
        match = pattern.match(title)
        if match and "/" not in match.group(1):
            found.append((match.group(1).replace("_", " ").strip(), " ".join(link.get_text(" ").split())))
    return found


def names_for(logins: list[str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    """login -> display name from (login, text) pairs whose text plausibly names that login."""
    wanted = {login.casefold(): login for login in logins}
    out: dict[str, str] = {}
    for login, text in pairs:
        owner = wanted.get(login.casefold())
        if owner and text.casefold() != login.casefold() and plausible_name(text, owner):
            out.setdefault(owner, text)
    return out


def emails_for(logins: list[str], links: list[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """login -> (display name, email) from mail links (signatures) that name that login's owner."""
    out: dict[str, tuple[str, str]] = {}
    for email, text in links:
        local = email.split("@", 1)[0]
        for login in logins:
            if (text and plausible_name(text, login)) or "".join(_tokens(local)) == "".join(_tokens(login)):
                name = text if text and plausible_name(text, login) else ""
                out.setdefault(login, (name, email))
    return out


def user_page_facts(text: str, login: str, *, wikitext: bool = True) -> tuple[str, str]:
    """(name, email) from a user page's text: its first heading if it names the login's
    owner, and the first email address on it (either may be empty)."""
    heading = (_HEADING_WIKITEXT if wikitext else _HEADING_DOKU).search(text)
    name = ""
    if heading:
        candidate = re.sub(r"\[\[[^|\]]*\|?([^\]]*)\]\]", r"\1", heading.group(1)).strip()
        if plausible_name(candidate, login):
            name = candidate
    email = EMAIL.search(unguard_email(text))
    return name, email.group(0).lower() if email else ""
