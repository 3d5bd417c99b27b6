"""Contact rules: full name, phone, date of birth, a mobile phone and a private e-mail are filled,
and no e-mail of an employee (or of the company's own domains) sits in a client's contact."""

from dataclasses import dataclass

from .identity import email_domain, email_key, phone_key
from .records import Contact, Multifield, Violation
from .settings import CrmSettings

NAME_FIELDS = {"LAST_NAME": "last_name", "NAME": "name", "SECOND_NAME": "second_name"}
FIELD_LABELS = {"LAST_NAME": "фамилия", "NAME": "имя", "SECOND_NAME": "отчество"}


@dataclass(frozen=True)
class ContactCheck:
    contact_id: str
    valid: bool
    violations: tuple[Violation, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(v.code for v in self.violations)

    def to_dict(self) -> dict:
        return {"contact_id": self.contact_id, "valid": self.valid,
                "violations": [v.to_dict() for v in self.violations]}


@dataclass(frozen=True)
class StaffAddresses:
    """E-mails that belong to the company, not to a client."""

    emails: frozenset[str]
    domains: frozenset[str]

    @classmethod
    def of(cls, settings: CrmSettings, emails=(), domains=()) -> "StaffAddresses":
        return cls(frozenset(email_key(e) for e in (*settings.employee_emails, *emails) if e.strip()),
                   frozenset(d.strip().lower().lstrip("@") for d in (*settings.corporate_domains, *domains)
                             if d.strip()))

    def owns(self, email: str) -> bool:
        domain = email_domain(email)
        return email_key(email) in self.emails or any(domain == d or domain.endswith("." + d)
                                                      for d in self.domains)


def _phones(contact: Contact, settings: CrmSettings, value_type: str | None = None) -> list[Multifield]:
    return [p for p in contact.phones if phone_key(p.value, settings.phone_region)
            and (value_type is None or p.value_type == value_type)]


def _name_violation(contact: Contact, settings: CrmSettings) -> Violation | None:
    empty = [f for f in settings.full_name_fields if not getattr(contact, NAME_FIELDS[f])]
    if not empty:
        return None
    return Violation("no_full_name", "Не заполнено ФИО: " + ", ".join(FIELD_LABELS[f] for f in empty) + ".")


def _phone_violations(contact: Contact, settings: CrmSettings) -> list[Violation]:
    found = []
    if not _phones(contact, settings):
        junk = [p.value for p in contact.phones]
        detail = f" («{junk[0]}» — не номер телефона)" if junk else ""
        found.append(Violation("no_phone", f"Не указан телефон{detail}."))
    if not _phones(contact, settings, "MOBILE"):
        found.append(Violation("no_mobile_phone", "Не заполнено поле «мобильный телефон» (PHONE типа MOBILE)."))
    return found


def _email_violations(contact: Contact, staff: StaffAddresses) -> list[Violation]:
    found = []
    staff_emails = [e.value for e in contact.emails if staff.owns(e.value)]
    if staff_emails:
        found.append(Violation("employee_email", f"В контакте клиента e-mail сотрудника: "
                                                 f"{', '.join(staff_emails)}."))
    if not any(e.value_type == "HOME" and not staff.owns(e.value) for e in contact.emails):
        found.insert(0, Violation("no_private_email", "Не заполнено поле «личный e-mail» (EMAIL типа HOME)."))
    return found


def check_contact(contact: Contact, settings: CrmSettings | None = None, employee_emails=(),
                  corporate_domains=()) -> ContactCheck:
    settings = settings or CrmSettings()
    staff = StaffAddresses.of(settings, employee_emails, corporate_domains)
    found = [
        _name_violation(contact, settings),
        *_phone_violations(contact, settings),
        None if contact.birthdate else Violation("no_birthdate", "Не указана дата рождения."),
        *_email_violations(contact, staff),
    ]
    violations = tuple(v for v in found if v is not None)
    return ContactCheck(contact_id=contact.id, valid=not violations, violations=violations)
