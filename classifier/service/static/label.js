// The labelling page: keyboard-only labelling of one comment at a time, and the reviewer's queue of
// disagreements between annotators (the role switch «Разметчик / Рецензент»).
(() => {
  const CATEGORY = { stop: "стоп-фраза", subject_only: "только тема", outcome_only: "только итог",
                     padding: "заполнитель", expanded: "развёрнутый" };
  const KEYS = { "1": "stop", "2": "subject_only", "3": "outcome_only", "4": "padding", "5": "expanded" };
  const $ = (id) => document.getElementById(id);
  let me = localStorage.getItem("crmqc.annotator") || "";
  let role = localStorage.getItem("crmqc.role") === "reviewer" ? "reviewer" : "annotator";
  let current = null, shownAt = 0, busy = false, statsSeq = 0, showSeq = 0;
  let dispute = null, chosen = null, reviewSeq = 0;

  async function api(method, path, body) {
    const r = await fetch(path, { method, headers: body ? { "Content-Type": "application/json" } : {},
                                  body: body ? JSON.stringify(body) : undefined });
    const data = await r.json();
    if (!r.ok) throw new Error(data.detail || r.status);
    return data;
  }
  function fail(e) { const el = $("error"); el.textContent = "Ошибка: " + e.message; el.hidden = false; }

  // Every request for a comment to show takes a number; only the newest one's answer is shown, so a slow
  // answer for a mode the analyst has already left never replaces the comment being labelled.
  async function fetchShown(path) {
    const mine = ++showSeq;
    const item = await api("GET", path);
    if (mine === showSeq) show(item);
  }
  // Why the queue is empty, as the server says (reason) — in the analyst's words.
  const EMPTY = {
    pool_empty: "Пул пуст: добавьте комментарии командой crmqc pool import ФАЙЛ.csv.",
    all_in_data: "Все комментарии пула уже размечены в data/ — размечать нечего. Добавьте новые комментарии в пул.",
    all_seen: "Вы разметили или пропустили все комментарии этой очереди. Выберите другую очередь.",
    no_overlap: "Нет комментариев, размеченных другими аналитиками и ещё не размеченных вами.",
    no_suspects: "Нет меток, которым модель уверенно противоречит.",
  };
  function show(item) {
    $("error").hidden = true;
    current = item.done ? null : item;
    $("card").hidden = item.done; $("done").hidden = !item.done;
    if (item.done) $("done").textContent = EMPTY[item.reason] || EMPTY.all_seen;
    if (current) {
      $("text").textContent = item.text;
      $("source").textContent = "№ " + item.comment_id + (item.source ? " · " + item.source : "");
      shownAt = performance.now();
    }
  }
  async function next() {
    try { await fetchShown(`/v1/labelling/next?annotator=${encodeURIComponent(me)}&mode=${$("mode").value}`); }
    catch (e) { fail(e); }
    stats();
  }
  async function stats() {
    const mine = ++statsSeq;
    try {
      const s = await api("GET", `/v1/labelling/stats?annotator=${encodeURIComponent(me)}`);
      if (mine !== statsSeq) return;  // an older answer arriving late must not overwrite a newer one
      $("today").textContent = s.labelled_today;
      $("pace").textContent = s.seconds_per_comment ? s.seconds_per_comment + " с" : "—";
      $("agree").textContent = s.agreement.length
        ? s.agreement.map((a) => `${a.with}: κ=${a.kappa === null ? "—" : a.kappa} (${a.items} общих)`).join("; ")
        : "пока нет общих комментариев";
    } catch (e) { fail(e); }
  }
  async function label(category) {
    if (!current || busy) return;
    busy = true;
    const item = current, seconds = (performance.now() - shownAt) / 1000;
    try {
      await api("POST", "/v1/labelling/labels", { comment_id: item.comment_id, annotator: me, category,
                                                   note: $("note").value, seconds });
      $("note").value = "";
      $("previous").textContent = "Предыдущий: ваша метка — " + CATEGORY[category] +
        ($("show-guess").checked ? "; модель — " + CATEGORY[item.guess.category] +
          " (оценка " + Math.floor(item.guess.score * 100) + " из 100)" : "");
      await next();
    } catch (e) { fail(e); } finally { busy = false; }
  }
  async function skip() {
    if (!current) return;
    try { await api("POST", "/v1/labelling/skip", { annotator: me, comment_id: current.comment_id }); await next(); }
    catch (e) { fail(e); }
  }
  async function undo() {
    try {
      const r = await api("POST", "/v1/labelling/undo", { annotator: me });
      if (r.comment_id === null) return;
      await fetchShown("/v1/labelling/comments/" + r.comment_id);
      $("previous").textContent = "Последняя метка отменена: снова действует ваша прежняя метка этого комментария, если она была. Можно разметить заново.";
      stats();
    } catch (e) { fail(e); }
  }
  // --- the reviewer: one unsettled disagreement at a time ---------------------------------------
  const NO_DISPUTE = {
    no_disagreements: "Разногласий нет: ни один комментарий не получил разных категорий от двух разметчиков.",
    all_settled: "Все разногласия разобраны.",
  };
  // The next unsettled disagreement after comment `after` (from the start again past the last one); as
  // with the labelling queue, only the newest request's answer is shown.
  async function nextReview(after = 0) {
    const mine = ++reviewSeq;
    try {
      let data = await api("GET", `/v1/labelling/reviews?state=unsettled&limit=1&after=${after}`);
      if (!data.items.length && after > 0 && data.total > 0)
        data = await api("GET", "/v1/labelling/reviews?state=unsettled&limit=1");
      if (mine === reviewSeq) showReview(data);
    } catch (e) { fail(e); }
  }
  function showReview(data) {
    $("error").hidden = true;
    dispute = data.items[0] || null;
    $("r-card").hidden = $("r-body").hidden = !dispute; $("r-done").hidden = !!dispute;
    $("r-left").textContent = data.counts.unsettled ? "Неразобранных разногласий: " + data.counts.unsettled : "";
    if (!dispute) {
      $("r-done").textContent = data.reason === "all_settled"
        ? NO_DISPUTE.all_settled + " Решено: " + data.counts.settled + "." : NO_DISPUTE.no_disagreements;
      return;
    }
    $("r-text").textContent = dispute.text;
    $("r-source").textContent = "№ " + dispute.comment_id + (dispute.source ? " · " + dispute.source : "");
    $("r-labels").replaceChildren(...dispute.labels.map((l) => {
      const li = document.createElement("li");
      const who = document.createElement("b");
      who.textContent = l.annotator;
      li.append(who, ": " + CATEGORY[l.category] + " — " + (l.note ? "«" + l.note + "»" : "без заметки"));
      return li;
    }));
    const earlier = dispute.previous_settlement;
    $("r-earlier").hidden = !earlier;
    $("r-earlier").textContent = earlier ? `Прежнее решение (${earlier.reviewer}: ${CATEGORY[earlier.category]}) ` +
      "больше не действует: после него разметчики изменили метки." : "";
    $("r-stricter").textContent = "Пока решения нет, в выгрузку идёт более строгое прочтение: " +
      CATEGORY[dispute.stricter] + ".";
    $("r-note").value = "";
    pick(null);
  }
  function pick(category) {
    chosen = category;
    for (const b of $("r-keys").querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.cat === category));
    $("r-save").disabled = !category;
  }
  async function settle() {
    if (!dispute || !chosen || busy) return;
    busy = true;
    const item = dispute, category = chosen;
    try {
      await api("POST", "/v1/labelling/reviews/" + item.comment_id, { reviewer: me, category, note: $("r-note").value });
      $("r-previous").textContent = `Решение по № ${item.comment_id} сохранено: ${CATEGORY[category]}.`;
      await nextReview(item.comment_id);
    } catch (e) { fail(e); } finally { busy = false; }
  }

  function setRole(value) {
    role = value;
    localStorage.setItem("crmqc.role", role);
    for (const r of document.querySelectorAll("input[name=role]")) r.checked = r.value === role;
    const reviewer = role === "reviewer";
    $("role-name").textContent = reviewer ? "Рецензент" : "Разметчик";
    $("labelling").hidden = reviewer; $("review").hidden = !reviewer;
    for (const el of document.querySelectorAll(".for-annotator")) el.hidden = reviewer;
    if (reviewer) nextReview(); else next();
  }
  function start() {
    $("who").hidden = true; $("work").hidden = false; $("me").textContent = me;
    document.activeElement && document.activeElement.blur();
    setRole(role);
  }
  $("who").addEventListener("submit", (e) => {
    e.preventDefault();
    me = $("name").value.trim();
    if (!me) return;
    localStorage.setItem("crmqc.annotator", me);
    start();
  });
  $("change").addEventListener("click", () => { $("work").hidden = true; $("who").hidden = false; $("name").focus(); });
  $("mode").addEventListener("change", () => { $("mode").blur(); next(); });
  $("keys").addEventListener("click", (e) => { const b = e.target.closest("button"); if (b) label(b.dataset.cat); });
  $("note").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); $("note").blur(); } });
  // stopPropagation: once blurred, the same Enter must not reach the document's handler and save at once
  $("r-note").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); e.stopPropagation(); $("r-note").blur(); }
  });
  for (const r of document.querySelectorAll("input[name=role]"))
    r.addEventListener("change", () => { r.blur(); setRole(r.value); });
  $("r-keys").addEventListener("click", (e) => { const b = e.target.closest("button"); if (b) pick(b.dataset.cat); });
  $("r-save").addEventListener("click", settle);
  document.addEventListener("keydown", (e) => {
    const tag = (document.activeElement || {}).tagName;
    if ($("work").hidden || tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) return;
    // e.code is the physical key, so s/u/n work on a Russian layout too (where they type ы/г/т)
    const digit = /^(Digit|Numpad)([1-5])$/.exec(e.code || "");
    const key = digit ? digit[2] : e.key;
    if (role === "reviewer") {
      if (KEYS[key]) { e.preventDefault(); pick(KEYS[key]); }
      else if (e.key === "Enter" && tag !== "BUTTON") { e.preventDefault(); settle(); }
      else if (e.code === "KeyS") { e.preventDefault(); if (dispute) nextReview(dispute.comment_id); }
      else if (e.code === "KeyN") { e.preventDefault(); $("r-note").focus(); }
      return;
    }
    if (KEYS[key]) { e.preventDefault(); label(KEYS[key]); }
    else if (e.code === "KeyS") { e.preventDefault(); skip(); }
    else if (e.code === "KeyU") { e.preventDefault(); undo(); }
    else if (e.code === "KeyN") { e.preventDefault(); $("note").focus(); }
  });
  if (me) start(); else { $("who").hidden = false; $("name").focus(); }
})();
