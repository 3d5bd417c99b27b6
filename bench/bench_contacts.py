"""Contact duplicate search: how long 100 000 contacts take (the issue asks for seconds).

Run: .venv/bin/python bench/bench_contacts.py [--n 100000] [--share 0.02] [--seed 4]
Input: synthetic crm.contact.list rows from a seeded RNG (random Russian names, mobile phones,
birthdates), with a share of planted duplicates: a copy of a contact with its name re-ordered or
re-cased, «ё» as «е», the phone typed another way (8 (916) …, +7 916 …, 7916…), and one of the three
fields dropped or changed. This is benchmark input only, never training data. Reports the time to
read the rows and to find the groups, how many groups were found, and how many planted pairs they hold.
"""

import argparse
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.crm import bitrix  # noqa: E402
from classifier.crm.duplicates import find_contact_duplicates  # noqa: E402
from classifier.crm.settings import CrmSettings  # noqa: E402

LAST = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков", "Фёдоров",
        "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов", "Николаев",
        "Орлов", "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев",
        "Романов", "Воробьёв", "Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев", "Королёв", "Гусев",
        "Киселёв", "Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв", "Белов", "Медведев",
        "Антонов", "Тарасов"]
MALE = ["Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья", "Кирилл", "Михаил",
        "Никита", "Матвей", "Роман", "Егор", "Арсений", "Иван", "Денис", "Евгений", "Даниил", "Тимофей",
        "Владислав", "Игорь", "Владимир", "Павел", "Руслан"]
FEMALE = ["Анна", "Мария", "Елена", "Дарья", "Алина", "Ирина", "Екатерина", "Арина", "Полина", "Ольга", "Юлия",
          "Татьяна", "Наталья", "Виктория", "Елизавета", "Анастасия", "Ксения", "Светлана", "Валерия", "Алёна",
          "Софья", "Вероника", "Марина", "Людмила", "Надежда"]
FATHERS = ["Александров", "Дмитриев", "Сергеев", "Андреев", "Алексеев", "Иванов", "Михайлов", "Николаев",
           "Петров", "Владимиров", "Викторов", "Юрьев", "Евгеньев", "Олегов", "Игорев", "Павлов", "Романов",
           "Анатольев", "Васильев", "Геннадьев"]
PHONE_SHAPES = ["+7 ({a}) {b}-{c}-{d}", "8 ({a}) {b}-{c}-{d}", "8{a}{b}{c}{d}", "+7{a}{b}{c}{d}", "7-{a}-{b}-{c}-{d}",
                "8 {a} {b} {c} {d}"]


def person(rng: random.Random) -> tuple[str, str, str]:
    female = rng.random() < 0.5
    last = rng.choice(LAST) + ("а" if female else "")
    first = rng.choice(FEMALE if female else MALE)
    patronymic = rng.choice(FATHERS) + ("на" if female else "ич")
    return last, first, patronymic


def typed_phone(digits: str, rng: random.Random) -> str:
    return rng.choice(PHONE_SHAPES).format(a=digits[:3], b=digits[3:6], c=digits[6:8], d=digits[8:])


def contact_row(id: int, names: tuple[str, str, str], digits: str, born: date | None, rng: random.Random) -> dict:
    return {"ID": str(id), "LAST_NAME": names[0], "NAME": names[1], "SECOND_NAME": names[2],
            "BIRTHDATE": f"{born.isoformat()}T00:00:00+03:00" if born else "",
            "ASSIGNED_BY_ID": str(rng.randint(1, 40)),
            "PHONE": [{"ID": str(id), "VALUE_TYPE": "MOBILE", "VALUE": typed_phone(digits, rng), "TYPE_ID": "PHONE"}]
            if digits else None}


def retyped(names: tuple[str, str, str], rng: random.Random) -> tuple[str, str, str]:
    """The same name as another manager types it: order, case, «ё»."""
    variant = [n.replace("ё", "е") for n in names] if rng.random() < 0.5 else list(names)
    if rng.random() < 0.5:
        variant = [variant[1], variant[0], variant[2]]  # «Пётр Иванов» typed into the last-name field
    return tuple(v.upper() if rng.random() < 0.2 else v for v in variant)


def planted_copy(original: dict, id: int, names, digits, born, rng: random.Random) -> dict:
    """Two of the three fields stay the same person's; the third is dropped or differs."""
    changed = rng.choice(("name", "phone", "birthdate"))
    new_names = (rng.choice(LAST), rng.choice(MALE), "") if changed == "name" else retyped(names, rng)
    new_digits = ("9" + "".join(rng.choice("0123456789") for _ in range(9)) if rng.random() < 0.5 else "") \
        if changed == "phone" else digits
    new_born = (born + timedelta(days=rng.randint(1, 400)) if rng.random() < 0.5 else None) \
        if changed == "birthdate" else born
    return contact_row(id, new_names, new_digits, new_born, rng)


def generate(n: int, share: float, seed: int) -> tuple[list[dict], list[tuple[str, str]]]:
    rng = random.Random(seed)
    originals = n - int(n * share)
    rows, facts = [], []
    for i in range(originals):
        names = person(rng)
        digits = "9" + "".join(rng.choice("0123456789") for _ in range(9))
        born = date(1950, 1, 1) + timedelta(days=rng.randint(0, 20000))
        rows.append(contact_row(i + 1, names, digits, born, rng))
        facts.append((names, digits, born))
    planted = []
    for j in range(n - originals):
        k = rng.randrange(originals)
        copy = planted_copy(rows[k], originals + j + 1, *facts[k], rng)
        rows.append(copy)
        planted.append((rows[k]["ID"], copy["ID"]))
    rng.shuffle(rows)
    return rows, planted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--share", type=float, default=0.02, help="share of planted duplicates")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    rows, planted = generate(args.n, args.share, args.seed)
    settings = CrmSettings()

    started = time.perf_counter()
    contacts = bitrix.records(rows, bitrix.contact_from_bitrix, settings, "contacts")
    read_seconds = time.perf_counter() - started

    started = time.perf_counter()
    groups = find_contact_duplicates(contacts, settings)
    search_seconds = time.perf_counter() - started

    group_of = {cid: i for i, g in enumerate(groups) for cid in g.contact_ids}
    found = sum(a in group_of and group_of.get(a) == group_of.get(b) for a, b in planted)
    in_groups = sum(len(g.contact_ids) for g in groups)
    chance = len(set(range(len(groups))) - {group_of[a] for a, _ in planted if a in group_of})
    print(f"{len(contacts):,} contacts, {len(planted):,} planted duplicates (seed {args.seed})")
    print(f"read Bitrix24 rows: {read_seconds:.2f} s")
    print(f"duplicate search (phones to E.164 with phonenumbers, blocking by key): {search_seconds:.2f} s")
    print(f"found {len(groups):,} groups holding {in_groups:,} contacts; {found:,} of {len(planted):,} planted "
          f"pairs are in one group; {chance} groups are chance matches of the random input")


if __name__ == "__main__":
    main()
