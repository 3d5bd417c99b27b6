"""``report.html`` of the audit: one self-contained page (inline CSS and SVG, no external assets)."""

from html import escape

STATUS = {"open": "в работе", "won": "выиграна", "lost": "проиграна"}
KIND = {"call": "звонок", "email": "письмо", "chat": "чат", "meeting": "встреча", "todo": "дело", "other": "другое"}
MATCHED = {"full_name": "ФИО", "phone": "телефон", "birthdate": "дата рождения"}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2630;margin:24px auto;
max-width:1200px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px}
.muted{color:#66727f}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}.card{border:1px solid #dde3ea;border-radius:8px;
padding:10px 14px;min-width:130px}.card b{display:block;font-size:22px}.bad b{color:#b3261e}.good b{color:#1e7b34}
.charts{display:flex;flex-wrap:wrap;gap:24px}svg text{font-size:12px;fill:#1d2630}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}th,td{border-bottom:1px solid #e5e9ee;padding:5px 8px;
text-align:left;vertical-align:top}th{background:#f4f6f8;font-weight:600}td.num{text-align:right}
.no{color:#b3261e}.yes{color:#1e7b34}ul{margin:4px 0;padding-left:18px}
"""


def _cell(value, cls: str = "") -> str:
    return f'<td class="{cls}">{value}</td>' if cls else f"<td>{value}</td>"


def table(headers: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset()) -> str:
    """``rows`` hold ready HTML: callers escape text."""
    if not rows:
        return '<p class="muted">нет</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v, "num" if i in numeric else "") for i, v in enumerate(r)) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar_chart(title: str, bars: list[tuple[str, float]], unit: str = "", top: float | None = None,
              color: str = "#c0392b") -> str:
    """A horizontal bar chart as inline SVG."""
    label_w, bar_w, row_h = 170, 300, 24
    top = top or max([v for _, v in bars] + [1])
    rows = []
    for i, (label, value) in enumerate(bars):
        y = 28 + i * row_h
        width = bar_w * value / top if top else 0
        shown = f"{value:.0%}" if unit == "%" else f"{value:g}"
        rows.append(f'<text x="0" y="{y + 15}">{escape(label[:26])}</text>'
                    f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 8}" fill="{color}" rx="2"/>'
                    f'<text x="{label_w + width + 6:.1f}" y="{y + 15}">{shown}</text>')
    height = 36 + len(bars) * row_h
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}" height="{height}" role="img" '
            f'aria-label="{escape(title)}"><text x="0" y="16" style="font-weight:600;font-size:13px">'
            f'{escape(title)}</text>{"".join(rows)}</svg>')


def _manager_name(result, manager_id: str | None) -> str:
    manager_id = manager_id or ""
    name = result.export.users.get(manager_id, "")
    return f"{name} ({manager_id})" if name else (f"#{manager_id}" if manager_id else "—")


def _cards(result) -> str:
    decisions = [x for _, x in result.deals]
    cards = [
        ("Сделок", len(decisions), ""),
        ("Некорректных", sum(not x.correct for x in decisions), "bad"),
        ("Активных", sum(x.active for x in decisions), "good"),
        ("Неактивных в работе", sum(x.status == "open" and not x.active for x in decisions), "bad"),
        ("Групп дублей сделок", len(result.deal_groups), "bad"),
        ("Контактов с нарушениями", sum(not x.valid for _, x in result.contacts), "bad"),
        ("Групп дублей контактов", len(result.contact_groups), "bad"),
        ("Лидов сконвертировано без касания", sum(not x.allowed for _, x in result.leads), "bad"),
    ]
    return '<div class="cards">' + "".join(f'<div class="card {cls}"><b>{n}</b>{escape(label)}</div>'
                                           for label, n, cls in cards) + "</div>"


def _charts(result) -> str:
    names = {m.manager_id: _manager_name(result, m.manager_id) for m in result.managers}
    charts = [
        bar_chart("Некорректные сделки", [(names[m.manager_id], m.counts["incorrect_deals"]) for m in result.managers]),
        bar_chart("Неактивные сделки в работе", [(names[m.manager_id], m.counts["inactive_deals"])
                                                 for m in result.managers], color="#d68910"),
        bar_chart("Доля развёрнутых комментариев", [(names[m.manager_id], m.expanded_share or 0.0)
                                                    for m in result.managers], unit="%", top=1.0, color="#1e7b34"),
    ]
    return '<div class="charts">' + "".join(charts) + "</div>"


def _managers(result) -> str:
    rows = []
    for m in result.managers:
        c = m.counts
        share = "—" if m.expanded_share is None else f"{m.expanded_share:.0%}"
        rows.append([escape(_manager_name(result, m.manager_id)), c["deals"], c["incorrect_deals"], c["inactive_deals"],
                     c["duplicate_deals"], c["invalid_contacts"], c["duplicate_contacts"],
                     c["leads_converted_without_touch"], c["leads_converted_without_comment"], share])
    return table(["Менеджер", "Сделок", "Некорректных", "Неактивных", "Дублей сделок", "Контактов с нарушениями",
                  "Дублей контактов", "Лиды без касания", "Лиды без комментария", "Развёрнутых комментариев"],
                 rows, numeric=frozenset(range(1, 10)))


def _yes(flag: bool) -> str:
    return '<span class="yes">да</span>' if flag else '<span class="no">нет</span>'


def _deal_row(result, deal, decision) -> list[str]:
    last = decision.last_touch
    touch = f"{last.at:%d.%m.%Y} {KIND.get(last.kind, last.kind)}" if last and last.at else "—"
    problems = "".join(f"<li>{escape(v.message)}</li>" for v in decision.violations)
    return [f"{escape(deal.id)} {escape(deal.title)}", escape(_manager_name(result, deal.assigned_by_id)),
            STATUS[decision.status], _yes(decision.correct), f"<ul>{problems}</ul>" if problems else "",
            _yes(decision.active) if decision.status == "open" else "—",
            decision.active_until.strftime("%d.%m.%Y") if decision.active_until else "—",
            "—" if decision.days_left is None else str(decision.days_left), escape(touch),
            escape(", ".join(result.duplicates_of(deal.id)))]


def _deals(result) -> str:
    rows = [_deal_row(result, d, x) for d, x in result.deals]
    return table(["Сделка", "Менеджер", "Статус", "Корректна", "Нарушения", "Активна", "Активна до",
                  "Осталось дней", "Последнее касание", "Дубли"], rows, numeric=frozenset({7}))


def _contacts(result) -> str:
    rows = [[escape(c.id), escape(c.full_name or "—"), escape(_manager_name(result, c.assigned_by_id)),
             "<ul>" + "".join(f"<li>{escape(v.message)}</li>" for v in x.violations) + "</ul>"]
            for c, x in result.contacts if not x.valid]
    return table(["Контакт", "ФИО", "Менеджер", "Нарушения"], rows)


def _contact_groups(result) -> str:
    names = {c.id: c.full_name for c, _ in result.contacts}
    rows = [[escape(", ".join(f"{i} {names.get(i, '')}".strip() for i in g.contact_ids)),
             escape(", ".join(MATCHED[f] for f in g.matched_on))] for g in result.contact_groups]
    return table(["Контакты", "Совпадают"], rows)


def _deal_groups(result, settings) -> str:
    rows = [[escape(g.contact_id), escape(settings.group_label(g.product_group)), escape(", ".join(g.deal_ids))]
            for g in result.deal_groups]
    return table(["Контакт", "Товарная группа", "Сделки"], rows)


def _leads(result) -> str:
    rows = [[f"{escape(lead.id)} {escape(lead.title)}", escape(_manager_name(result, lead.assigned_by_id)),
             escape("; ".join(r.message for r in x.reasons))] for lead, x in result.leads if not x.allowed]
    return table(["Лид", "Менеджер", "Почему нельзя было конвертировать"], rows)


PROMISE_STATE = {"kept": "выполнено", "broken": "нет касания", "pending": "срок не прошёл"}


def _share(part: int, whole: int) -> str:
    return f"{part} из {whole} ({part / whole:.0%})" if whole else "—"


def _reused(result) -> str:
    rows = []
    for deal, t in result.reused():
        earlier = t.reused
        where = "эта же сделка" if earlier.same_deal else f"сделка {earlier.deal_id}"
        when = f" от {earlier.created:%d.%m.%Y}" if earlier.created else ""
        what = "комментарий" if earlier.kind == "comment" else "заметка к звонку"
        rows.append([f"{escape(deal.id)} {escape(deal.title)}", escape(_manager_name(result, deal.assigned_by_id)),
                     escape(f"{t.at:%d.%m.%Y} {KIND.get(t.kind, t.kind)}" if t.at else KIND.get(t.kind, t.kind)),
                     escape(f"{what} #{earlier.id}{when}, {where}"), f"{earlier.similarity:.0%}"])
    return table(["Сделка", "Менеджер", "Касание", "Повторяет", "Сходство"], rows, numeric=frozenset({4}))


def _promises(result) -> str:
    by_manager: dict[str, list] = {}
    for p in result.promises:
        by_manager.setdefault(p.manager_id or "", []).append(p)
    summary = []
    for m in result.managers:
        made = by_manager.get(m.manager_id, [])
        if made:
            broken = sum(p.state == "broken" for p in made)
            checked = sum(p.state != "pending" for p in made)
            summary.append([escape(_manager_name(result, m.manager_id)), len(made),
                            sum(p.state == "kept" for p in made), broken, sum(p.state == "pending" for p in made),
                            _share(broken, checked)])
    broken_rows = [[escape(p.deal_id), escape(_manager_name(result, p.manager_id)), f"{p.written:%d.%m.%Y}",
                    f"«{escape(p.phrase)}»", p.promised.strftime("%d.%m.%Y"), p.due.strftime("%d.%m.%Y")]
                   for p in result.promises if p.state == "broken"]
    return (table(["Менеджер", "Обещаний", "Выполнено", "Без касания", "Срок не прошёл", "Доля без касания"],
                  summary, numeric=frozenset(range(1, 6)))
            + "<h3>Обещания, после которых не было ни звонка, ни переписки</h3>"
            + table(["Сделка", "Менеджер", "Написано", "Обещано", "На дату", "Ждали до"], broken_rows))


def _bursts(result, settings) -> str:
    rows = [[escape(_manager_name(result, b.manager_id)), b.written, b.late, f"{b.share:.0%}",
             "—" if b.median_lag_hours is None else f"{b.median_lag_hours / 24:.0f} дн.",
             '<span class="no">да</span>' if b.pattern else "нет"]
            for b in result.bursts if b.late]
    return table(["Менеджер", f"Комментариев за {settings.burst_days} дн. до аудита",
                  f"Из них позже {settings.burst_late_hours} ч после взаимодействия", "Доля",
                  "Медиана задержки", "Закономерность"], rows, numeric=frozenset({1, 2, 3}))


def _gaming(result, settings) -> str:
    return "".join([
        "<h2>Признаки накрутки</h2>",
        '<p class="muted">Это не нарушения: комментарий, повторяющий более ранний (в этой же сделке или '
        "в другой сделке того же менеджера), просто не засчитывается как касание; обещания и комментарии "
        "задним числом показаны, чтобы было видно закономерность.</p>",
        f"<h3>Повторённые комментарии (сходство от {settings.reuse_similarity:.0%})</h3>", _reused(result),
        f"<h3>Обещания и факты (запас {settings.promise_grace_days} дн.)</h3>", _promises(result),
        "<h3>Комментарии задним числом перед аудитом</h3>", _bursts(result, settings),
    ])


def render_report(result, settings) -> str:
    body = [
        "<h1>Аудит CRM: сделки, контакты, лиды</h1>",
        f'<p class="muted">По состоянию на {result.as_of:%d.%m.%Y %H:%M %z}; правила из rules/crm.yaml: '
        f"окно активности {settings.activity_window_months} мес., звонок от {settings.min_call_seconds} с, "
        f"комментарий в течение {settings.comment_window_hours} ч.</p>",
        _cards(result), "<h2>По менеджерам</h2>", _charts(result), _managers(result),
        "<h2>Сделки</h2>", _deals(result),
        "<h2>Дубли сделок (один контакт, одна товарная группа)</h2>", _deal_groups(result, settings),
        "<h2>Контакты с нарушениями</h2>", _contacts(result),
        "<h2>Дубли контактов</h2>", _contact_groups(result),
        "<h2>Лиды, сконвертированные без касания и комментария</h2>", _leads(result),
        _gaming(result, settings),
    ]
    return ('<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Аудит CRM</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body>{"".join(body)}</body></html>')
