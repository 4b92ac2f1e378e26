"""A connector over an in-memory dict, for the spine's own tests.

Registered under the kind ``memory`` exactly as any connector would be. It lets the
sync, store and index tests control what the "source" holds, item by item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.base import (
    Checkpoint,
    Connector,
    Contribution,
    Document,
    Failure,
    Person,
    Role,
    register,
    setting,
)

#: source id -> {native id: dict(title, text, author, ...)}
CONTENT: dict[str, dict[str, dict]] = {}
BROKEN: dict[str, set[str]] = {}


@dataclass
class MemorySettings:
    checkpoint_every: int = setting(50, label="Checkpoint every N documents")


@register("memory")
class MemoryConnector(Connector):
    Settings = MemorySettings

    def documents(self, checkpoint=None):
        pages = CONTENT.get(self.source.id, {})
        start = checkpoint.state.get("after", "") if checkpoint else ""
        since = checkpoint.state.get("version", -1) if checkpoint else -1
        done = 0
        names = sorted(pages)
        for name in names:
            if name <= start and start:
                continue
            page = pages[name]
            if checkpoint and "version" in checkpoint.state and page.get("version", 0) <= since:
                continue
            if name in BROKEN.get(self.source.id, set()):
                yield Failure(self.doc_id(name), f"{name}: unreadable")
                continue
            yield self.to_document(name, page)
            done += 1
            if done % self.settings.checkpoint_every == 0:
                yield Checkpoint({"after": name})
        top = max((p.get("version", 0) for p in pages.values()), default=0)
        yield Checkpoint({"version": top})

    def to_document(self, name: str, page: dict) -> Document:
        when = page.get("modified", datetime(2025, 1, 1, tzinfo=UTC))
        author = page.get("author", "Alex Martin")
        if "contributions" in page:  # [(name, email, role, time, size, minor, username), ...]
            people = tuple(
                Contribution(
                    Person(c[0], c[1], c[6] if len(c) > 6 else None),
                    Role(c[2]),
                    c[3],
                    c[4] if len(c) > 4 else 0,
                    c[5] if len(c) > 5 else False,
                )
                for c in page["contributions"]
            )
        else:
            people = (Contribution(Person(author, page.get("email")), Role.AUTHOR, when, len(page["text"])),)
        return Document(
            id=self.doc_id(name),
            url=f"memory://{self.source.id}/{name}",
            title=page.get("title", name),
            text=page["text"],
            kind=page.get("kind", "page"),
            language=page.get("language"),
            created=when,
            modified=when,
            contributions=people,
            tags=tuple(page.get("tags", ())),
            communities=tuple(page.get("communities", ())),
            acl=tuple(page["acl"]) if "acl" in page else None,
            translation_of=page.get("translation_of"),
        )

    def ids(self):
        return [self.doc_id(n) for n in sorted(CONTENT.get(self.source.id, {}))]
