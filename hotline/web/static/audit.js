// Supervisors' audit: calls by date, hotline, agent, disposition and words said; one call's
// player beside its transcript and audit marks; the recordings access log.
"use strict";

(() => {
  const { t, fmt, el, table, row, label, select, api, register, go, dayRange, today } = Console;
  const DISPOSITIONS = ["answered", "abandoned", "missed", "failed", "busy", "lost"];
  const PAGE = 50;

  function callLink(id, offset) {
    return el("a", { href: `#/audit/call/${id}` + (offset !== undefined ? `?t=${offset}` : ""), text: offset !== undefined ? fmt.clock(offset) : `#${id}` });
  }

  // ---- the list ----------------------------------------------------------------------------
  async function renderList(container, match, query) {
    const day = query.get("day") || today();
    const form = el("form", { class: "filters", role: "search", "aria-label": t("audit.filters") },
      label("audit.day", el("input", { type: "date", name: "day", value: day, required: true })),
      label("col.hotline", select("hotline", [["", "audit.any"], ["12345", null], ["12319", null]], query.get("hotline") || "")),
      label("col.agent", el("input", { name: "agent", value: query.get("agent") || "", size: 12 })),
      label("col.disposition", select("disposition", [["", "audit.any"], ...DISPOSITIONS.map((d) => [d, "disposition." + d])], query.get("disposition") || "")),
      label("audit.words", el("input", { name: "q", type: "search", value: query.get("q") || "", size: 14 })),
      el("button", { type: "submit", text: t("audit.search") }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const [name, value] of new FormData(form)) if (value.trim()) params.set(name, value.trim());
      go("/audit?" + params);
    });
    const results = el("div", { id: "audit-results" });
    container.append(el("section", { class: "card" }, el("h2", { text: t("audit.title") }), form, results));

    const [since, until] = dayRange(day);
    const filters = new URLSearchParams({ since, until, limit: String(PAGE) });
    for (const name of ["hotline", "agent"]) if (query.get(name)) filters.set(name, query.get(name));
    if (query.get("q")) {
      filters.set("q", query.get("q"));
      const found = await api("/api/v1/transcripts/search?" + filters);
      results.append(
        query.get("disposition") ? el("p", { class: "muted", text: t("audit.words-ignore-disposition") }) : "",
        found.calls.length ? table(["col.id", "col.started", "col.hotline", "col.agent", "audit.where"], found.calls.map((c) => row(
          callLink(c.call_id), fmt.dateTime(c.started_at), c.hotline, c.agent,
          el("ul", { class: "hits" }, ...c.hits.map((h) => el("li", {}, callLink(c.call_id, h.offset), " ", el("span", { text: t("audit.said", { speaker: t("speaker." + h.speaker), text: h.text }) }))))))) :
          el("p", { class: "muted", text: t("audit.no-calls") }));
      return;
    }
    if (query.get("disposition")) filters.set("disposition", query.get("disposition"));
    const cursors = [null];
    const show = async () => {
      const params = new URLSearchParams(filters);
      if (cursors[cursors.length - 1]) params.set("cursor", cursors[cursors.length - 1]);
      const page = await api("/api/v1/calls?" + params);
      const more = el("button", { type: "button", disabled: !page.next_cursor, text: t("paging.next"), onclick: () => { cursors.push(page.next_cursor); show(); } });
      const back = el("button", { type: "button", disabled: cursors.length === 1, text: t("paging.previous"), onclick: () => { cursors.pop(); show(); } });
      results.replaceChildren(
        page.calls.length ? table(["col.id", "col.started", "col.hotline", "col.caller", "col.agent", "col.wait", "col.talk", "col.disposition", "col.recording"], page.calls.map((c) => row(
          callLink(c.id), fmt.dateTime(c.started_at), c.hotline, c.caller_number, c.agent, fmt.seconds(c.wait_seconds), fmt.seconds(c.talk_seconds),
          c.disposition ? t("disposition." + c.disposition) : t("status." + c.status), c.recorded ? el("a", { href: `#/audit/call/${c.id}`, text: t("live.listen") }) : t("audit.not-recorded")))) :
          el("p", { class: "muted", text: t("audit.no-calls") }),
        el("div", { class: "paging" }, back, more));
    };
    await show();
  }

  // ---- one call: player, transcript, marks ---------------------------------------------------
  async function renderCall(container, match, query) {
    const id = match[1];
    const call = await api(`/api/v1/calls/${id}`);
    const heading = el("h2", { text: t("audit.call", { id }) });
    const facts = el("dl", { class: "facts" },
      ...[["col.started", fmt.dateTime(call.started_at)], ["col.hotline", call.hotline], ["col.caller", call.caller_number],
          ["col.agent", call.agent], ["col.wait", fmt.seconds(call.wait_seconds)], ["col.talk", fmt.seconds(call.talk_seconds)],
          ["col.disposition", call.disposition ? t("disposition." + call.disposition) : ""]]
        .flatMap(([key, value]) => [el("dt", { text: t(key) }), el("dd", { text: value || "–" })]));
    container.append(el("section", { class: "card" }, el("p", {}, el("a", { href: "#/audit", text: t("audit.back") })), heading, facts));
    if (!call.recorded) { container.append(el("p", { class: "card muted", text: t("audit.not-recorded") })); return; }

    const audio = el("audio", { controls: true, preload: "auto", src: `/api/v1/calls/${id}/recording`, id: "player", "aria-label": t("audit.player") });
    const transcriptBox = el("div", { class: "transcript", id: "transcript", "aria-label": t("audit.transcript") });
    const marksBox = el("ul", { class: "marks", id: "marks" });
    container.append(el("div", { class: "audit-grid" },
      el("section", { class: "card" }, el("h3", { text: t("audit.player") }), audio,
        el("h3", { text: t("audit.marks") }), marksBox),
      el("section", { class: "card" }, el("h3", { text: t("audit.transcript") }), transcriptBox)));

    const seek = (seconds) => { audio.currentTime = seconds; audio.play().catch(() => null); };
    if (query.get("t")) audio.addEventListener("loadedmetadata", () => { audio.currentTime = Number(query.get("t")); }, { once: true });

    let transcript;
    try { transcript = await api(`/api/v1/calls/${id}/transcript`); }
    catch (error) { transcriptBox.append(el("p", { class: "muted", text: error.status === 404 ? t("audit.no-transcript") : Console.errorText(error) })); return; }
    const sides = new Set(transcript.segments.map((s) => s.speaker));
    const apart = sides.has("caller") || sides.has("agent");
    transcriptBox.classList.toggle("apart", apart);
    if (apart) transcriptBox.append(el("div", { class: "side-head caller", text: t("speaker.caller") }), el("div", { class: "side-head agent", text: t("speaker.agent") }));
    const words = [];
    for (const segment of transcript.segments) {
      const line = el("p", { class: "segment " + segment.speaker },
        el("button", { type: "button", class: "stamp", text: fmt.clock(segment.start), "aria-label": t("audit.jump", { at: fmt.clock(segment.start) }), onclick: () => seek(segment.start) }), " ");
      const list = segment.words && segment.words.length ? segment.words : [{ word: segment.text, start: segment.start, end: segment.end }];
      for (const word of list) {
        const button = el("button", { type: "button", class: "word", text: word.word, dataset: { start: word.start, end: word.end }, onclick: () => seek(word.start) });
        words.push([word.start, word.end, button]);
        line.append(button);
      }
      transcriptBox.append(line);
    }
    let current = null;
    audio.addEventListener("timeupdate", () => {
      const now = audio.currentTime;
      const found = words.find(([start, end]) => start <= now && now < end);
      const button = found ? found[2] : null;
      if (button === current) return;
      if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
      if (button) { button.classList.add("current"); button.setAttribute("aria-current", "true"); button.scrollIntoView({ block: "nearest" }); }
      current = button;
    });

    const marks = await api(`/api/v1/calls/${id}/marks`);
    marksBox.replaceChildren(...marks.marks.map((mark) => el("li", { class: mark.ok ? "ok" : "bad" },
      el("span", { class: "flag", text: mark.ok ? t("marks.ok") : t("marks.bad") }), " ",
      el("span", { text: t("marks." + mark.kind, { phrase: mark.phrase || "" }) }), " ",
      mark.offset !== null ? el("button", { type: "button", class: "jump", text: t("audit.jump", { at: fmt.clock(mark.offset) }), onclick: () => seek(mark.offset) }) : "")));
    if (!marks.marks.length) marksBox.append(el("li", { class: "muted", text: t("marks.none") }));
  }

  // ---- the access log --------------------------------------------------------------------------
  async function renderLog(container, match, query) {
    const form = el("form", { class: "filters", role: "search", "aria-label": t("audit.filters") },
      label("log.actor", el("input", { name: "actor", value: query.get("actor") || "", size: 14 })),
      el("button", { type: "submit", text: t("audit.search") }));
    form.addEventListener("submit", (event) => { event.preventDefault(); const actor = new FormData(form).get("actor").trim(); go("/audit-log" + (actor ? "?actor=" + encodeURIComponent(actor) : "")); });
    const results = el("div");
    container.append(el("section", { class: "card" }, el("h2", { text: t("log.title") }), form, results));
    const befores = [null];
    const show = async () => {
      const params = new URLSearchParams({ limit: String(PAGE) });
      if (query.get("actor")) params.set("actor", query.get("actor"));
      if (befores[befores.length - 1]) params.set("before", befores[befores.length - 1]);
      const page = await api("/api/v1/recordings/audit?" + params);
      results.replaceChildren(
        table(["log.at", "log.actor", "log.role", "log.action", "col.id", "log.remote", "log.detail"], page.entries.map((e) => {
          const tr = row(fmt.dateTime(e.at), e.actor, e.role ? t("role." + e.role) : "", actionName(e.action), e.call_id ? callLink(e.call_id) : "", e.remote, e.detail);
          if (e.action.endsWith(".denied")) tr.className = "denied";
          return tr;
        })),
        el("div", { class: "paging" },
          el("button", { type: "button", disabled: befores.length === 1, text: t("paging.previous"), onclick: () => { befores.pop(); show(); } }),
          el("button", { type: "button", disabled: !page.next_before, text: t("paging.next"), onclick: () => { befores.push(page.next_before); show(); } })));
    };
    await show();
  }
  function actionName(action) {
    const denied = action.endsWith(".denied");
    const base = denied ? action.slice(0, -".denied".length) : action;
    const known = ["action.recording.play", "action.transcript.read", "action.transcript.search", "action.recording.delete", "action.audit.read"];
    const name = known.includes("action." + base) ? t("action." + base) : base;
    return denied ? t("action.denied", { action: name }) : name;
  }

  register({ id: "audit", nav: "nav.audit", roles: ["supervisor"], home: "/audit", pattern: /^\/audit$/, render: renderList });
  register({ id: "audit-call", section: "audit", nav: null, roles: ["supervisor"], pattern: /^\/audit\/call\/(\d+)$/, render: renderCall });
  register({ id: "audit-log", nav: "nav.audit-log", roles: ["supervisor"], home: "/audit-log", pattern: /^\/audit-log$/, render: renderLog });
})();
