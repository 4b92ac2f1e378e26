"""Who may see a wiki page: the wiki's own ACL, or per-namespace rules in the settings.

A wiki's restricted pages stay private in Savoir only if Savoir knows who may read
them: when the crawl account is privileged it reads them all. Two sources of truth:

* ``namespace_acl`` (both wikis): namespace -> Savoir groups, written by the admin
  (the most specific namespace that contains a page wins). MediaWiki has no per-page
  read permission in its API (read restrictions come from extensions configured in
  LocalSettings.php), so for a MediaWiki this is the way.
* DokuWiki's ACL (``acl_groups``: wiki group -> Savoir groups): read with
  ``plugin.acl.listAcls`` (a superuser account) and resolved per page as DokuWiki does
  (the most specific scope with a rule for the reader's groups or ``@ALL`` decides).
  A page is then visible to the Savoir groups mapped from the wiki groups that may
  read it; wiki groups without a mapping see nothing through Savoir (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: DokuWiki's AUTH_READ
READ = 1
ALL = "ALL"


def _groups(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
    return tuple(dict.fromkeys(str(g).strip() for g in items if str(g).strip()))


def namespace_groups(page_namespaces: Sequence[str], rules: Mapping[str, object]) -> tuple[str, ...] | None:
    """The groups of the most specific rule naming one of *page_namespaces* (most
    specific first), or None when no rule does."""
    normalised = {str(k).strip().strip(":").casefold(): v for k, v in rules.items()}
    for namespace in page_namespaces:
        key = namespace.strip().strip(":").casefold()
        if key in normalised:
            return _groups(normalised[key])
    return None


def dokuwiki_scopes(page: str) -> list[str]:
    """The ACL scopes that apply to *page*, most specific first (``a:b:c``, ``a:b:*``, ``a:*``, ``*``)."""
    parts = page.split(":")
    scopes = [page]
    for end in range(len(parts) - 1, 0, -1):
        scopes.append(":".join(parts[:end]) + ":*")
    scopes.append("*")
    return scopes


def dokuwiki_readers(page: str, acl: Mapping[str, Mapping[str, object]]) -> set[str]:
    """The wiki groups (``ALL`` for everyone) whose members may read *page*.

    For each group named in the ACL, as DokuWiki resolves it for a member of that group
    (and of ``@ALL``): the first scope with a rule for either decides, by its highest
    permission. Rules for single users are ignored (Savoir grants groups only).
    """
    named = {who[1:] for rules in acl.values() for who in rules if who.startswith("@")} | {ALL}
    readers = set()
    for group in named:
        wanted = {f"@{group}", f"@{ALL}"}
        for scope in dokuwiki_scopes(page):
            rules = acl.get(scope) or {}
            perms = [int(p) for who, p in rules.items() if who in wanted]
            if perms:
                if max(perms) >= READ:
                    readers.add(group)
                break
    return readers


def dokuwiki_page_groups(
    page: str, acl: Mapping[str, Mapping[str, object]], group_map: Mapping[str, object]
) -> tuple[str, ...]:
    """The Savoir groups that may see *page* (empty: nobody through Savoir)."""
    mapped = {str(k).lstrip("@"): _groups(v) for k, v in group_map.items()}
    out: list[str] = []
    for reader in sorted(dokuwiki_readers(page, acl)):
        out += mapped.get(reader, ())
    return tuple(dict.fromkeys(out))
