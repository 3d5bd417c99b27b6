"""``report.html`` of the audit: one self-contained page (inline CSS and SVG, no external assets), in
Russian, readable at phone width: every table scrolls inside its own box, charts shrink to fit."""

from datetime import datetime
from html import escape

from ..crm.deals import portal_zone
from .runs import RunHistory

STATUS = {"open": "в работе", "won": "выиграна", "lost": "проиграна"}
KIND = {"call": "звонок", "email": "письмо", "chat": "чат", "meeting": "встреча", "todo": "дело", "other": "другое"}
MATCHED = {"full_name": "ФИО", "phone": "телефон", "birthdate": "дата рождения"}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
TREND_RUNS = 12  # the trend chart shows at most this many runs
NOT_INTERACTIONS = frozenset({"not_interaction", "in_future", "no_date"})  # a to-do, a call planned for later

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2630;margin:24px auto;
max-width:1200px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px}
.muted{color:#66727f}a{color:#0b57d0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}.card{border:1px solid #dde3ea;border-radius:8px;
padding:10px 14px;min-width:130px;flex:0 1 auto}.card b{display:block;font-size:22px}.card small{display:block;
color:#66727f}.bad b{color:#b3261e}.good b{color:#1e7b34}
.charts{display:flex;flex-wrap:wrap;gap:24px}.charts>svg,.chart{max-width:100%;height:auto}
svg text{font-size:12px;fill:#1d2630}
.scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch;margin:6px 0 12px}
.scroll:focus{outline:2px solid #0b57d0}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e5e9ee;padding:5px 8px;
text-align:left;vertical-align:top}th{background:#f4f6f8;font-weight:600}td.num{text-align:right;white-space:nowrap}
.no{color:#b3261e}.yes{color:#1e7b34}ul{margin:4px 0;padding-left:18px}.up{color:#b3261e}.down{color:#1e7b34}
.note{display:block;color:#66727f;font-size:12px}
@media (max-width:600px){body{margin:12px auto;padding:0 10px;font-size:13px}h1{font-size:19px}
.card{min-width:0;flex:1 1 40%;padding:8px 10px}.card b{font-size:19px}th,td{padding:4px 6px}}
"""


def _cell(value, cls: str = "") -> str:
    return f'<td class="{cls}">{value}</td>' if cls else f"<td>{value}</td>"


def table(headers: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset(), label: str = "") -> str:
    """``rows`` hold ready HTML: callers escape text. The table scrolls sideways inside its own box."""
    if not rows:
        return '<p class="muted">нет</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v, "num" if i in numeric else "") for i, v in enumerate(r)) + "</tr>"
                   for r in rows)
    name = f' aria-label="{escape(label)}"' if label else ""
    return (f'<div class="scroll" role="region" tabindex="0"{name}><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def bar_chart(title: str, bars: list[tuple[str, float]], unit: str = "", top: float | None = None,
              color: str = "#c0392b") -> str:
    """A horizontal bar chart as inline SVG; it shrinks to the width of the screen (viewBox)."""
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
    width, height = label_w + bar_w + 60, 36 + len(bars) * row_h
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
            f'<text x="0" y="16" style="font-weight:600;font-size:13px">{escape(title)}</text>{"".join(rows)}</svg>')


def trend_chart(title: str, runs: list[str], lines: list[tuple[str, list[float | None]]]) -> str:
    """Shares (0..1) per run, one line per manager, as inline SVG that shrinks to fit."""
    left, top, plot_w, plot_h = 36, 28, 420, 120
    step = plot_w / max(1, len(runs) - 1)
    parts = [f'<text x="0" y="16" style="font-weight:600;font-size:13px">{escape(title)}</text>']
    for share in (0, 0.5, 1):
        y = top + plot_h * (1 - share)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e5e9ee"/>'
                     f'<text x="0" y="{y + 4:.1f}">{share:.0%}</text>')
    for i, label in enumerate(runs):
        anchor = "start" if i == 0 else "end" if i == len(runs) - 1 else "middle"
        parts.append(f'<text x="{left + i * step:.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}">'
                     f"{escape(label)}</text>")
    legend_y = top + plot_h + 34
    for n, (name, values) in enumerate(lines):
        color = PALETTE[n % len(PALETTE)]
        points = [(left + i * step, top + plot_h * (1 - v)) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in points]
        ly = legend_y + n * 16
        parts.append(f'<rect x="{left}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{left + 16}" y="{ly}">{escape(name[:40])}</text>')
    width, height = left + plot_w + 20, legend_y + len(lines) * 16
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">{"".join(parts)}</svg>')


# --- names and links ---------------------------------------------------------------------------------------

def _link(url: str, text: str) -> str:
    """``text`` (already HTML) as a link into the portal, or as it is without a portal URL."""
    return f'<a href="{escape(url)}" target="_blank" rel="noopener">{text}</a>' if url else text


def _manager(result, manager_id: str | None) -> str:
    return escape(result.names.manager(manager_id))


def _deal(result, deal) -> str:
    return _link(result.names.url("deal", deal.id), f"{escape(deal.id)} {escape(deal.title)}".strip())


def _deal_id(result, deal_id: str) -> str:
    return _link(result.names.url("deal", deal_id), escape(deal_id))


def _contact(result, contact_id: str) -> str:
    return _link(result.names.url("contact", contact_id), escape(result.names.contact(contact_id)))


def _share(part: int, whole: int) -> str:
    return f"{part} из {whole} ({part / whole:.0%})" if whole else "—"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _day(value) -> str:
    return value.strftime("%d.%m.%Y") if value else "—"


# --- the sections -----------------------------------------------------------------------------------------

def active_until_note(deal, decision, settings) -> str:
    """Why «активна до» is what it is, in Russian: from the last counted touch, or from creation."""
    if decision.status != "open":
        return "сделка закрыта: активность не проверяется"
    if not decision.correct:
        return "сделка некорректна: активной не считается, пока обязательные поля не заполнены"
    months = settings.activity_window_months
    last = decision.last_touch
    created = deal.created.astimezone(portal_zone(deal, settings)).date() if deal.created else None
    touched = last.at.astimezone(portal_zone(deal, settings)).date() if last and last.at else None
    if touched and (created is None or touched >= created):
        return f"последнее засчитанное касание {touched:%d.%m.%Y} + {months} мес."
    if created is None:
        return "нет даты создания и засчитанных касаний"
    if touched:
        return f"создана {created:%d.%m.%Y} (после последнего касания) + {months} мес."
    seen = sum(t.why_not not in NOT_INTERACTIONS for t in decision.touches)
    tail = f"{_plural(seen, 'взаимодействие', 'взаимодействия', 'взаимодействий')} с клиентом, ни одно не " \
           "засчитано" if seen else "взаимодействий с клиентом не было"
    return f"засчитанных касаний нет ({tail}): дата создания {created:%d.%m.%Y} + {months} мес."


def _plural(n: int, one: str, few: str, many: str) -> str:
    """«1 взаимодействие», «3 взаимодействия», «11 взаимодействий»."""
    if n % 10 == 1 and n % 100 != 11:
        word = one
    elif 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        word = few
    else:
        word = many
    return f"{n} {word}"


def _header(result, settings) -> str:
    period = (f"данные выгрузки с {_day(result.period[0])} по {_day(result.period[1])}"
              if result.period else "в выгрузке нет датированных записей")
    return (f'<p class="muted">По состоянию на {result.as_of:%d.%m.%Y %H:%M %z}; {period}. Правила из '
            f"rules/crm.yaml: окно активности {settings.activity_window_months} мес., звонок от "
            f"{settings.min_call_seconds} с, комментарий в течение {settings.comment_window_hours} ч. "
            "Закрытые сделки (выигранные и проигранные) учтены в числе сделок и проверены на корректность; "
            "активность проверяется только у сделок в работе.</p>")


def _cards(result) -> str:
    decisions = [x for _, x in result.deals]
    total, open_ = len(decisions), sum(x.status == "open" for x in decisions)
    cards = [
        ("Сделок", str(total), f"в работе {open_}, выиграно {sum(x.status == 'won' for x in decisions)}, "
                               f"проиграно {sum(x.status == 'lost' for x in decisions)}", ""),
        ("Некорректных", _share(sum(not x.correct for x in decisions), total), "от всех сделок", "bad"),
        ("Активных", _share(sum(x.active for x in decisions), open_), "от сделок в работе", "good"),
        ("Неактивных в работе", _share(sum(x.status == "open" and not x.active for x in decisions), open_),
         "от сделок в работе", "bad"),
        ("Групп дублей сделок", str(len(result.deal_groups)), "", "bad"),
        ("Контактов с нарушениями", _share(sum(not x.valid for _, x in result.contacts), len(result.contacts)),
         "от всех контактов", "bad"),
        ("Групп дублей контактов", str(len(result.contact_groups)), "", "bad"),
        ("Лидов сконвертировано без касания", _share(sum(not x.allowed for _, x in result.leads), len(result.leads)),
         "от сконвертированных", "bad"),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card {cls}"><b>{escape(value)}</b>{escape(label)}'
        f'{f"<small>{escape(note)}</small>" if note else ""}</div>' for label, value, note, cls in cards) + "</div>"


def _charts(result) -> str:
    names = {m.manager_id: result.names.manager(m.manager_id) for m in result.managers}
    charts = [
        bar_chart("Доля некорректных сделок", [(names[m.manager_id], m.share("incorrect_share") or 0.0)
                                               for m in result.managers], unit="%", top=1.0),
        bar_chart("Доля неактивных среди сделок в работе", [(names[m.manager_id], m.share("inactive_share") or 0.0)
                                                            for m in result.managers], unit="%", top=1.0,
                  color="#d68910"),
        bar_chart("Доля развёрнутых комментариев", [(names[m.manager_id], m.expanded_share or 0.0)
                                                    for m in result.managers], unit="%", top=1.0, color="#1e7b34"),
    ]
    return '<div class="charts">' + "".join(charts) + "</div>"


def _managers(result) -> str:
    rows = []
    for m in result.managers:
        c = m.counts
        rows.append([_manager(result, m.manager_id), str(c["deals"]),
                     f"{c['open_deals']} / {c['won_deals']} / {c['lost_deals']}",
                     _share(c["incorrect_deals"], c["deals"]), _share(c["inactive_deals"], c["open_deals"]),
                     _share(c["duplicate_deals"], c["deals"]), _share(c["invalid_contacts"], c["contacts"]),
                     str(c["duplicate_contacts"]), _share(c["leads_converted_without_touch"], c["leads_converted"]),
                     _share(c["leads_converted_without_comment"], c["leads_converted"]),
                     _share(c["expanded_comments"], c["comments"])])
    return table(["Менеджер", "Сделок", "В работе / выиграно / проиграно", "Некорректных",
                  "Неактивных (из сделок в работе)", "Дублей сделок", "Контактов с нарушениями", "Дублей контактов",
                  "Лиды без касания", "Лиды без комментария", "Развёрнутых комментариев"],
                 rows, numeric=frozenset(range(1, 11)), label="По менеджерам")


def _yes(flag: bool) -> str:
    return '<span class="yes">да</span>' if flag else '<span class="no">нет</span>'


def _deal_row(result, deal, decision, settings) -> list[str]:
    last = decision.last_touch
    touch = f"{last.at:%d.%m.%Y} {KIND.get(last.kind, last.kind)}" if last and last.at else "—"
    problems = "".join(f"<li>{escape(v.message)}</li>" for v in decision.violations)
    until = decision.active_until.strftime("%d.%m.%Y") if decision.active_until else "—"
    contacts = ", ".join(_contact(result, c) for c in deal.contact_ids) or "—"
    groups = escape(", ".join(result.names.group(g) for g in deal.product_groups)) or "—"
    stage = f"{escape(result.names.stage(deal.stage_id))}<span class=\"note\">{STATUS[decision.status]}</span>"
    duplicates = ", ".join(_deal_id(result, d) for d in result.duplicates_of(deal.id))
    return [_deal(result, deal), _manager(result, deal.assigned_by_id), contacts, groups, stage,
            _yes(decision.correct), f"<ul>{problems}</ul>" if problems else "",
            _yes(decision.active) if decision.status == "open" else "—",
            f'{until}<span class="note">{escape(active_until_note(deal, decision, settings))}</span>',
            "—" if decision.days_left is None else str(decision.days_left), escape(touch), duplicates]


def _deals(result, settings) -> str:
    rows = [_deal_row(result, d, x, settings) for d, x in result.deals]
    return table(["Сделка", "Менеджер", "Контакт", "Товарная группа", "Стадия", "Корректна", "Нарушения", "Активна",
                  "Активна до", "Осталось дней", "Последнее касание", "Дубли"], rows, numeric=frozenset({9}),
                 label="Сделки")


def _contacts(result) -> str:
    rows = [[_link(result.names.url("contact", c.id), escape(c.id)), escape(c.full_name or "—"),
             _manager(result, c.assigned_by_id),
             "<ul>" + "".join(f"<li>{escape(v.message)}</li>" for v in x.violations) + "</ul>"]
            for c, x in result.contacts if not x.valid]
    return table(["Контакт", "ФИО", "Менеджер", "Нарушения"], rows, label="Контакты с нарушениями")


def _contact_groups(result) -> str:
    rows = [[", ".join(f"{_link(result.names.url('contact', i), escape(i))} "
                       f"{escape(result.names.contacts.get(i, ''))}".strip() for i in g.contact_ids),
             escape(", ".join(MATCHED[f] for f in g.matched_on))] for g in result.contact_groups]
    return table(["Контакты", "Совпадают"], rows, label="Дубли контактов")


def _deal_groups(result) -> str:
    rows = [[_contact(result, g.contact_id), escape(result.names.group(g.product_group)),
             ", ".join(_deal_id(result, d) for d in g.deal_ids)] for g in result.deal_groups]
    return table(["Контакт", "Товарная группа", "Сделки"], rows, label="Дубли сделок")


def _leads(result) -> str:
    rows = [[_link(result.names.url("lead", lead.id), f"{escape(lead.id)} {escape(lead.title)}"),
             _manager(result, lead.assigned_by_id), escape("; ".join(r.message for r in x.reasons))]
            for lead, x in result.leads if not x.allowed]
    return table(["Лид", "Менеджер", "Почему нельзя было конвертировать"], rows, label="Лиды")


# --- signals of gaming ----------------------------------------------------------------------------------

PROMISE_STATE = {"kept": "выполнено", "broken": "нет касания", "pending": "срок не прошёл"}


def _reused(result) -> str:
    rows = []
    for deal, t in result.reused():
        earlier = t.reused
        where = "эта же сделка" if earlier.same_deal else f"сделка {_deal_id(result, earlier.deal_id)}"
        when = f" от {earlier.created:%d.%m.%Y}" if earlier.created else ""
        what = "комментарий" if earlier.kind == "comment" else "заметка к звонку"
        rows.append([_deal(result, deal), _manager(result, deal.assigned_by_id),
                     escape(f"{t.at:%d.%m.%Y} {KIND.get(t.kind, t.kind)}" if t.at else KIND.get(t.kind, t.kind)),
                     f"{escape(f'{what} #{earlier.id}{when}')}, {where}", f"{earlier.similarity:.0%}"])
    return table(["Сделка", "Менеджер", "Касание", "Повторяет", "Сходство"], rows, numeric=frozenset({4}),
                 label="Повторённые комментарии")


def _promises(result) -> str:
    summary = []
    for m in result.managers:
        c = m.counts
        if c["promises"]:
            summary.append([_manager(result, m.manager_id), str(c["promises"]), str(c["promises_kept"]),
                            str(c["promises_broken"]), str(c["promises"] - c["promises_kept"] - c["promises_broken"]),
                            _share(c["promises_broken"], c["promises_kept"] + c["promises_broken"])])
    broken_rows = [[_deal_id(result, p.deal_id), _manager(result, p.manager_id), f"{p.written:%d.%m.%Y}",
                    f"«{escape(p.phrase)}»", p.promised.strftime("%d.%m.%Y"), p.due.strftime("%d.%m.%Y")]
                   for p in result.promises if p.state == "broken"]
    return (table(["Менеджер", "Обещаний", "Выполнено", "Без касания", "Срок не прошёл", "Доля без касания"],
                  summary, numeric=frozenset(range(1, 6)), label="Обещания по менеджерам")
            + "<h3>Обещания, после которых не было ни звонка, ни переписки</h3>"
            + table(["Сделка", "Менеджер", "Написано", "Обещано", "На дату", "Ждали до"], broken_rows,
                    label="Обещания без касания"))


def _bursts(result, settings) -> str:
    rows = [[_manager(result, b.manager_id), str(b.written), str(b.late), f"{b.share:.0%}",
             "—" if b.median_lag_hours is None else f"{b.median_lag_hours / 24:.0f} дн.",
             '<span class="no">да</span>' if b.pattern else "нет"]
            for b in result.bursts if b.late]
    return table(["Менеджер", f"Комментариев за {settings.burst_days} дн. до аудита",
                  f"Из них позже {settings.burst_late_hours} ч после взаимодействия", "Доля",
                  "Медиана задержки", "Закономерность"], rows, numeric=frozenset({1, 2, 3}),
                 label="Комментарии задним числом")


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


# --- change since the previous run ------------------------------------------------------------------------

# (column, what it counts, a share or a count, «up» is worse)
CHANGES = (("inactive_share", "Неактивных из сделок в работе", True), ("incorrect_share", "Некорректных", True),
           ("expanded_share", "Развёрнутых комментариев", False), ("reused_comments", "Повторённых комментариев", True),
           ("promises_broken", "Обещаний без касания", True))


def _delta(now, before, is_share: bool, up_is_worse: bool) -> str:
    shown = _percent(now) if is_share else str(now)
    if before is None or now is None:
        return f"{shown} <span class=\"note\">раньше не было</span>" if now is not None else "—"
    change = (now - before) * (100 if is_share else 1)
    if round(change) == 0:
        return f"{shown} <span class=\"note\">без изменений</span>"
    cls = "up" if (change > 0) == up_is_worse else "down"
    unit = " п.п." if is_share else ""
    return f'{shown} <span class="{cls}">{change:+.0f}{unit}</span>'


def _run_day(run: dict) -> str:
    return datetime.fromisoformat(run["as_of"]).strftime("%d.%m.%Y")


def _changes(result, history, current: dict) -> str:
    previous = history.previous
    if previous is None:
        return ('<p class="muted">Это первый сохранённый аудит: изменения по менеджерам появятся после '
                "следующего запуска.</p>")
    before = previous["managers"]
    rows = []
    for m in result.managers:
        then = before.get(m.manager_id)
        now = current["managers"][m.manager_id]
        cells = [_delta(now.get(key), then.get(key) if isinstance(then, dict) else None, key.endswith("_share"), up)
                 for key, _, up in CHANGES]
        rows.append([_manager(result, m.manager_id), *cells])
    runs = [*history.runs[-(TREND_RUNS - 1):], current]
    lines = [(result.names.manager(m.manager_id),
              [r["managers"].get(m.manager_id, {}).get("inactive_share") for r in runs]) for m in result.managers]
    chart = trend_chart("Доля неактивных сделок в работе по аудитам", [_run_day(r) for r in runs], lines)
    return (f'<p class="muted">С прошлого аудита по состоянию на {_run_day(previous)} (сохранённых аудитов: '
            f"{len(history.runs)}). Красным — хуже, зелёным — лучше; п.п. — процентные пункты.</p>"
            + table(["Менеджер", *[label for _, label, _ in CHANGES]], rows, label="Изменения с прошлого аудита")
            + f'<div class="charts">{chart}</div>')


def render_report(result, settings, history=None, current: dict | None = None) -> str:
    history = history or RunHistory()
    body = [
        "<h1>Аудит CRM: сделки, контакты, лиды</h1>", _header(result, settings),
        _cards(result), "<h2>По менеджерам</h2>", _charts(result), _managers(result),
        "<h2>Изменения с прошлого аудита</h2>", _changes(result, history, current) if current else "",
        "<h2>Сделки</h2>", _deals(result, settings),
        "<h2>Дубли сделок (один контакт, одна товарная группа)</h2>", _deal_groups(result),
        "<h2>Контакты с нарушениями</h2>", _contacts(result),
        "<h2>Дубли контактов</h2>", _contact_groups(result),
        "<h2>Лиды, сконвертированные без касания и комментария</h2>", _leads(result),
        _gaming(result, settings),
    ]
    return ('<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Аудит CRM</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body>{"".join(body)}</body></html>')
