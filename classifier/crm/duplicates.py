"""Duplicates: open deals of one client in one product group; contacts that share two or more of
full name, phone and date of birth.

Both are found by blocking on keys (each key remembers the first record that had it), never by
comparing all pairs: 100 000 contacts take seconds (bench/bench_contacts.py).
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .deals import OPEN, deal_status
from .identity import name_key, phone_key
from .records import Contact, Deal
from .settings import CrmSettings

FULL_NAME, PHONE, BIRTHDATE = "full_name", "phone", "birthdate"


@dataclass(frozen=True)
class ContactGroup:
    contact_ids: tuple[str, ...]
    matched_on: tuple[str, ...]  # the fields that matched between some pair in the group

    def to_dict(self) -> dict:
        return {"contact_ids": list(self.contact_ids), "matched_on": list(self.matched_on)}


@dataclass(frozen=True)
class DealGroup:
    contact_id: str
    product_group: str
    deal_ids: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"contact_id": self.contact_id, "product_group": self.product_group, "deal_ids": list(self.deal_ids)}


@dataclass(frozen=True)
class ContactKeys:
    name: str | None
    phones: tuple[str, ...]
    birthdate: str | None


def contact_keys(contact: Contact, region: str) -> ContactKeys:
    phones = (phone_key(p.value, region) for p in contact.phones)
    return ContactKeys(name=name_key(contact.last_name, contact.name, contact.second_name),
                       phones=tuple(dict.fromkeys(p for p in phones if p)),
                       birthdate=contact.birthdate.isoformat() if contact.birthdate else None)


def blocking_keys(keys: ContactKeys) -> Iterator[tuple]:
    """One key per pair of fields the contact has: two contacts sharing a key match on that pair."""
    if keys.name and keys.birthdate:
        yield (FULL_NAME, BIRTHDATE), keys.name, keys.birthdate
    for phone in keys.phones:
        if keys.name:
            yield (FULL_NAME, PHONE), keys.name, phone
        if keys.birthdate:
            yield (PHONE, BIRTHDATE), phone, keys.birthdate


class Links:
    """Union-find over record positions: which records ended up in one group."""

    def __init__(self, size: int):
        self.parent = list(range(size))

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.root(i), self.root(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def find_contact_duplicates(contacts: Sequence[Contact], settings: CrmSettings | None = None) \
        -> tuple[ContactGroup, ...]:
    settings = settings or CrmSettings()
    first_with: dict[tuple, int] = {}
    links, matches = Links(len(contacts)), []
    for i, contact in enumerate(contacts):
        for key in blocking_keys(contact_keys(contact, settings.phone_region)):
            j = first_with.setdefault(key, i)
            if j != i:
                links.join(i, j)
                matches.append((i, key[0]))
    return _contact_groups(contacts, links, matches)


def _contact_groups(contacts: Sequence[Contact], links: Links, matches: list) -> tuple[ContactGroup, ...]:
    fields: dict[int, set[str]] = defaultdict(set)
    for i, pair in matches:
        fields[links.root(i)].update(pair)
    members: dict[int, list[str]] = defaultdict(list)
    for i in range(len(contacts)):
        root = links.root(i)
        if root in fields:
            members[root].append(contacts[i].id)
    order = (FULL_NAME, PHONE, BIRTHDATE)
    groups = ((tuple(dict.fromkeys(members[root])), fields[root]) for root in sorted(members))
    # the same contact twice in one export (overlapping pages) is not a duplicate of itself
    return tuple(ContactGroup(ids, tuple(f for f in order if f in matched)) for ids, matched in groups
                 if len(ids) > 1)


def find_deal_duplicates(deals: Sequence[Deal], settings: CrmSettings | None = None) -> tuple[DealGroup, ...]:
    """Open deals of the same contact in the same product group; other groups are other sales."""
    settings = settings or CrmSettings()
    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for deal in deals:
        if deal_status(deal, settings) != OPEN:
            continue
        for contact_id in deal.contact_ids:
            for group in deal.product_groups:
                by_key[contact_id, group].append(deal.id)
    groups = ((key, tuple(dict.fromkeys(ids))) for key, ids in by_key.items())
    return tuple(DealGroup(contact, group, ids) for (contact, group), ids in groups if len(ids) > 1)
