// The manager's comment check: debounced calls to /v1/comments/score?explain=true.
(() => {
  const CATEGORY = {
    expanded: "развёрнутый",
    subject_only: "есть тема, нет договорённости",
    outcome_only: "есть договорённость, нет темы разговора",
    stop: "стоп-фраза или статус звонка",
    padding: "текст-заполнитель",
  };
  const KIND = { stop: "стоп-фраза", subject: "что обсуждали", outcome: "о чём договорились" };
  const box = document.getElementById("comment");
  const el = (id) => document.getElementById(id);
  let timer = null, seq = 0;

  function show(v, text) {
    el("error").hidden = true;
    el("result").hidden = false;
    const verdict = el("verdict");
    // «стоп-фраза» only when a stop-phrase rule decided; otherwise the model found neither half
    const what = v.category === "stop" && !v.rule ? "не видно ни темы разговора, ни договорённости" : CATEGORY[v.category];
    verdict.textContent = v.expanded ? "Развёрнутый комментарий" : "Не развёрнутый: " + what;
    verdict.className = "verdict " + (v.expanded ? "ok" : "bad");
    verdict.dataset.category = v.category;
    const checks = el("checks");
    checks.replaceChildren(
      item(!v.missing.includes("subject"), "Что обсуждали"),
      item(!v.missing.includes("outcome"), "О чём договорились / следующий шаг"));
    el("hints").replaceChildren(...v.hints.map((h) => li(h)));
    // the words behind the verdict: stop phrases, and the clauses that say what was discussed / agreed
    const ev = v.evidence || { subject: [], outcome: [] };
    const spans = [
      ...((v.explain && v.explain.rule_hits) || []).map((h) => ({ ...h, kind: "stop" })),
      ...ev.subject.map((h) => ({ ...h, kind: "subject" })),
      ...ev.outcome.map((h) => ({ ...h, kind: "outcome" })),
    ].sort((a, b) => a.start - b.start);
    el("marked-wrap").hidden = spans.length === 0;
    el("marked").replaceChildren(...highlight(text, spans));
    // No number for the manager: a score against a bar only says how little padding would pass.
    // The score and the threshold stay in the API's explain, for QA.
    el("meta").textContent = "Проверено моделью " + v.model_version;
  }
  function li(text, cls) { const n = document.createElement("li"); n.textContent = text; if (cls) n.className = cls; return n; }
  function item(ok, text) { const n = li(text + (ok ? "" : " — не указано"), ok ? "yes" : "no"); return n; }
  function highlight(text, hits) {
    const chars = Array.from(text);  // offsets are code points, as the API counts them
    const out = []; let at = 0;
    for (const h of hits) {
      if (h.start < at) continue;
      out.push(document.createTextNode(chars.slice(at, h.start).join("")));
      const m = document.createElement("mark");
      m.textContent = chars.slice(h.start, h.end).join("");
      m.className = h.kind;
      m.title = KIND[h.kind];
      out.push(m); at = h.end;
    }
    out.push(document.createTextNode(chars.slice(at).join("")));
    return out;
  }
  function russian(status, detail) {
    const limit = /the limit is (\d+)/.exec(detail);
    if (status === 413) return "Комментарий слишком длинный" + (limit ? ": не больше " + limit[1] + " символов." : ".");
    if (status === 422) return "Комментарий пустой или содержит недопустимые символы.";
    if (status === 401) return "Нет доступа к сервису проверки: обратитесь к администратору.";
    return "Не удалось проверить комментарий (ошибка " + status + "). Попробуйте ещё раз.";
  }
  function fail(message) {
    el("result").hidden = true;
    const e = el("error"); e.textContent = message; e.hidden = false;
  }
  async function check() {
    const text = box.value;
    if (!text.trim()) { el("result").hidden = true; el("error").hidden = true; return; }
    const mine = ++seq;
    try {
      const r = await fetch("/v1/comments/score?explain=true", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }) });
      const body = await r.json();
      if (mine !== seq) return;  // a newer request is on its way
      if (!r.ok) { fail(russian(r.status, body.detail || "")); return; }
      show(body, text);
    } catch (err) {
      if (mine === seq) fail("Сервис проверки недоступен. Попробуйте ещё раз.");
    }
  }
  box.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 350); });
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); clearTimeout(timer); check(); }
  });
})();
