// Cases: the operator's screen pop and filing a case from a call, the queues by state and
// deadline, a department's own queue, and a case page with its history, calls and actions.
"use strict";

(() => {
  const { t, fmt, el, table, row, label, caseLink, select, api, errorText, onCall, register, go, state } = Console;
  const TYPES = ["complaint", "inquiry", "help", "suggestion", "report", "praise", "survey"];
  const STATUSES = ["received", "registered", "dispatched", "handling", "feedback", "resolved", "rejected", "closed"];
  const OPEN = ["received", "registered", "dispatched", "handling", "feedback"];
  const RECEPTION = ["operator", "supervisor"], SUPERVISION = ["supervisor"], DEPARTMENT = ["handler"];
  // Which actions to offer, from docs/cases.md's workflow table: only a convenience, the server
  // refuses any other (403 for the role, 409 for the status) whatever the page sends.
  const ACTIONS = {
    resolve: [["received"], RECEPTION, [["answer", "textarea"]]],
    register: [["received"], RECEPTION, [["note", "text"]]],
    reject: [["received"], RECEPTION, [["reason", "text"]]],
    merge: [["received", "registered"], RECEPTION, [["into", "text"]]],
    dispatch: [["registered"], SUPERVISION, [["department", "department"], ["window", "text"]]],
    acknowledge: [["dispatched"], DEPARTMENT, []],
    return: [["dispatched"], DEPARTMENT, [["reason", "text"]]],
    "request-extension": [["handling"], DEPARTMENT, [["days", "number"], ["reason", "text"]]],
    "decide-extension": [["handling"], SUPERVISION, [["approve", "checkbox"], ["note", "text"]]],
    feedback: [["handling"], DEPARTMENT, [["text", "textarea"]]],
    verify: [["feedback"], SUPERVISION, [["passed", "checkbox"], ["substantiated", "checkbox"], ["note", "text"]]],
    urge: [OPEN, SUPERVISION, [["note", "text"]]],
    escalate: [OPEN, SUPERVISION, [["note", "text"]]],
    reopen: [["resolved", "rejected", "closed"], SUPERVISION, [["reason", "text"]]],
  };
  const STEPS = ["file", "absorb", "overdue", "criticise", ...Object.keys(ACTIONS)];
  const mayFile = () => ["operator", "supervisor", "admin"].includes(state.me.role);
  const hears = () => ["supervisor", "admin"].includes(state.me.role);

  function typeName(type) { return TYPES.includes(type) ? t("case-type." + type) : type; }
  function statusName(status) { return STATUSES.includes(status) ? t("case-status." + status) : status; }
  function stepName(action) { return STEPS.includes(action) ? t("case-action." + action) : action; }
  function due(c) {
    return el("span", { class: c.overdue ? "bad" : "", text: fmt.dateTime(c.due_at) + (c.overdue ? " " + t("cases.overdue-mark") : "") });
  }

  // ---- filing a case from a call ------------------------------------------------------------
  // Type (first letters pick it), Tab, description, then Enter in the last field (or Ctrl+Enter in
  // the description) files and registers it; an inquiry answered on the call is resolved instead.
  function caseForm(call) {
    const hotline = call.hotline === "12319" ? "12319" : "12345";
    const message = el("p", { class: "error", role: "alert", id: "file-error" });
    const type = select("type", TYPES.map((v) => [v, "case-type." + v]), "inquiry");
    type.id = "file-type";
    const description = el("textarea", { name: "description", id: "file-description", rows: 2, required: true });
    const answer = el("textarea", { name: "answer", id: "file-answer", rows: 2 });
    const located = hotline === "12319";
    const address = el("input", { name: "address", id: "file-address", required: located || null });
    const grid = el("input", { name: "grid_code", id: "file-grid", pattern: "\\d{12}", inputmode: "numeric", required: located || null, title: t("cases.grid-hint") });
    const form = el("form", { class: "filters file-case", id: "file-case" },
      label("cases.type", type), label("cases.description", description),
      label("cases.address", address), located ? label("cases.grid-code", grid) : null,
      label("cases.answer", answer),
      el("button", { type: "submit", name: "register", id: "file-register", text: t("cases.file-register") }),
      el("button", { type: "submit", name: "resolve", id: "file-resolve", text: t("cases.file-resolve") }),
      message);
    description.addEventListener("keydown", (event) => { if (event.key === "Enter" && event.ctrlKey) form.requestSubmit(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      message.textContent = "";
      const resolving = event.submitter && event.submitter.name === "resolve";
      if (resolving && !answer.value.trim()) { message.textContent = t("cases.answer-needed"); answer.focus(); return; }
      const body = { type: type.value, channel: hotline, call_id: call.id, description: description.value.trim() };
      if (address.value.trim()) body.address = address.value.trim();
      if (located) body.grid_code = grid.value.trim();
      try {
        const filed = await api("/api/v1/cases", { method: "POST", json: body });
        const action = resolving ? ["resolve", { answer: answer.value.trim(), version: filed.version }] : ["register", { version: filed.version }];
        await api(`/api/v1/cases/${filed.number}/actions/${action[0]}`, { method: "POST", json: action[1] });
        go(`/cases/${filed.number}`);
      } catch (error) { message.textContent = errorText(error); }
    });
    return form;
  }

  function history(pop) {
    const calls = pop.history.calls || [], cases = pop.history.cases || [];
    return el("div", { class: "pop-history" },
      el("h3", { text: t("pop.earlier-calls", { n: calls.length }) }),
      calls.length ? table(["col.started", "col.hotline", "col.disposition", "col.agent"], calls.map((c) =>
        row(fmt.dateTime(c.started_at), c.hotline, c.disposition ? t("disposition." + c.disposition) : "", c.agent))) :
        el("p", { class: "muted", text: t("pop.none") }),
      el("h3", { text: t("pop.cases", { n: cases.length }) }),
      cases.length ? table(["cases.number", "cases.type", "cases.status", "cases.description"], cases.map((c) =>
        row(caseLink(c.number), typeName(c.type), statusName(c.status), c.description))) :
        el("p", { class: "muted", text: t("pop.none") }));
  }

  // The screen pop: above whatever page is open, until the operator closes it or signs out.
  onCall((message) => {
    if (message.type !== "screen-pop") return;
    const aside = el("aside", { class: "card pop", id: "screen-pop", "aria-labelledby": "pop-title" },
      el("h2", { id: "pop-title", text: t("pop.title", { hotline: message.hotline }) }),
      el("p", { class: "pop-caller", id: "pop-caller", text: [message.caller.number, message.caller.name].filter(Boolean).join(" ") || t("pop.unknown") }),
      history(message),
      mayFile() ? caseForm(message.call) : null,
      el("button", { type: "button", class: "link", text: t("pop.close"), onclick: () => aside.remove() }));
    document.getElementById("pop").replaceChildren(aside);
    const first = document.getElementById("file-type");
    if (first) first.focus();
  });

  // A recent call's own page: file a case from it after the caller has hung up.
  async function renderFile(container, match) {
    const call = await api(`/api/v1/calls/${match[1]}`);
    const pop = { history: call.caller_number ? await api(`/api/v1/callers/${encodeURIComponent(call.caller_number)}/history`) : { calls: [] } };
    pop.history.calls = (pop.history.calls || []).filter((c) => c.id !== call.id);
    container.append(el("section", { class: "card" },
      el("h2", { text: t("cases.file-title", { id: call.id }) }),
      el("p", { id: "pop-caller", text: `${call.hotline} · ${call.caller_number || t("pop.unknown")} ${call.caller_name || ""} · ${fmt.dateTime(call.started_at)}` }),
      history(pop), caseForm(call)));
    document.getElementById("file-type").focus();
  }

  // ---- queues -------------------------------------------------------------------------------
  const VIEWS = [["open", "cases.view.open"], ["soon", "cases.view.soon"], ["overdue", "cases.view.overdue"], ["all", "cases.view.all"]];
  async function renderQueue(container, match, query) {
    const view = VIEWS.some(([v]) => v === query.get("view")) ? query.get("view") : "open";
    const status = STATUSES.includes(query.get("status")) ? query.get("status") : "";
    const own = state.me.role === "handler";
    const tabs = el("div", { class: "tabs", role: "navigation", "aria-label": t("cases.views") }, ...VIEWS.map(([v, key]) =>
      el("a", { href: `#/cases?view=${v}`, "aria-current": v === view || null, text: t(key) })));
    const statusPick = select("status", [["", "cases.any-status"], ...STATUSES.map((s) => [s, "case-status." + s])], status);
    statusPick.addEventListener("change", () => go(`/cases?view=${view}&status=${statusPick.value}`));
    const body = el("tbody", { id: "case-queue" });
    const more = el("button", { type: "button", hidden: true, text: t("cases.more") });
    container.append(el("section", { class: "card" },
      el("h2", { text: t(own ? "cases.own-queue" : "cases.queue") }), tabs,
      el("div", { class: "filters" }, label("cases.status", statusPick)),
      el("table", {}, el("thead", {}, el("tr", {}, ...["cases.number", "cases.type", "cases.status", "cases.hotline", "cases.caller", "cases.department", "cases.filed", "cases.due", "cases.description"].map((k) => el("th", { scope: "col", text: t(k) })))), body),
      el("p", { class: "muted", id: "case-queue-empty", hidden: true, text: t("cases.none") }), more));
    const params = new URLSearchParams({ limit: "50" });
    if (status) params.set("status", status);
    if (view === "soon") params.set("soon_due", "true");
    if (view === "overdue") params.set("overdue", "true");
    let cursor = null;
    async function load() {
      if (cursor) params.set("cursor", cursor);
      const page = await api("/api/v1/cases?" + params);
      // "Open" is the working view: the API filters one status at a time, the rest is left out here.
      const shown = view === "open" && !status ? page.cases.filter((c) => OPEN.includes(c.status)) : page.cases;
      body.append(...shown.map((c) => {
        const tr = row(caseLink(c.number), typeName(c.type), statusName(c.status), c.hotline, c.caller_number,
          c.department, fmt.dateTime(c.filed_at), due(c), c.description);
        tr.dataset.case = c.number;
        return tr;
      }));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      document.getElementById("case-queue-empty").hidden = body.rows.length > 0 || Boolean(cursor);
    }
    more.addEventListener("click", load);
    await load();
  }

  // ---- one case -----------------------------------------------------------------------------
  function field(name, kind, departments) {
    const id = `field-${name}`;
    let control;
    if (kind === "textarea") control = el("textarea", { name, id, rows: 2, required: true });
    else if (kind === "checkbox") control = el("input", { type: "checkbox", name, id });
    else if (kind === "number") control = el("input", { type: "number", name, id, min: 1, max: 60, required: true });
    else if (kind === "department") control = select(name, departments.map((d) => [d.id, null]));
    else control = el("input", { name, id, required: ["reason", "into"].includes(name) || null });
    return label("case-field." + name, control);
  }
  function actionForm(c, name, fields, departments, done) {
    const message = el("p", { class: "error", role: "alert" });
    const form = el("form", { class: "filters action", id: `action-${name}` },
      ...fields.map(([f, kind]) => field(f, kind, departments)),
      el("button", { type: "submit", text: t("case-action." + name) }), message);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { version: c.version };
      for (const [f, kind] of fields) {
        const control = form.elements[f];
        if (kind === "checkbox") body[f] = control.checked;
        else if (kind === "number") body[f] = Number(control.value);
        else if (control.value.trim()) body[f] = control.value.trim();
      }
      try { await api(`/api/v1/cases/${c.number}/actions/${name}`, { method: "POST", json: body }); done(); }
      catch (error) { message.textContent = errorText(error); }
    });
    return el("div", { class: "card action-card" }, el("h3", { text: t("case-action." + name) }), form);
  }

  async function renderCase(container, match) {
    const number = match[1];
    const c = await api(`/api/v1/cases/${number}`);
    const role = state.me.role;
    const offered = Object.entries(ACTIONS).filter(([, [from, roles]]) => from.includes(c.status) && (role === "admin" || roles.includes(role)));
    const departments = offered.some(([, [, , fields]]) => fields.some(([, kind]) => kind === "department"))
      ? (await api("/api/v1/departments")).departments : [];
    const fact = (key, value) => [el("dt", { text: t(key) }), el("dd", {}, value ?? "")];
    const calls = c.calls.map((call) => el("li", { dataset: { call: call.id } },
      el("span", { text: t("cases.call", { id: call.id, at: fmt.dateTime(call.started_at) }) }),
      hears() ? el("audio", { controls: true, preload: "none", src: `/api/v1/calls/${call.id}/recording`, "aria-label": t("cases.call-player", { id: call.id }) }) : null,
      hears() ? el("a", { href: `#/audit/call/${call.id}` + (call.transcript_offset != null ? `?t=${call.transcript_offset}` : ""), text: t("live.listen") }) : null));
    container.append(
      el("section", { class: "card", id: "case" },
        el("h2", {}, el("span", { text: t("cases.case", { number: c.number }) }), " ", el("span", { id: "case-status", class: "muted", text: statusName(c.status) })),
        el("dl", { class: "facts" },
          ...fact("cases.type", typeName(c.type)), ...fact("cases.hotline", c.hotline || c.channel),
          ...fact("cases.caller", [c.caller_number, c.caller_name].filter(Boolean).join(" ")),
          ...fact("cases.description", c.description), ...fact("cases.address", [c.address, c.grid_code].filter(Boolean).join(" · ")),
          ...fact("cases.department", c.department), ...fact("cases.filed", fmt.dateTime(c.filed_at)), ...fact("cases.due", due(c))),
        el("h3", { text: t("cases.calls") }),
        calls.length ? el("ul", { class: "case-calls" }, ...calls) : el("p", { class: "muted", text: t("pop.none") })),
      ...(offered.length ? [el("section", { class: "actions", id: "case-actions", "aria-label": t("cases.actions") },
        ...offered.map(([name, [, , fields]]) => actionForm(c, name, fields, departments, () => renderAgain(container, match))))] : []),
      el("section", { class: "card" }, el("h3", { text: t("cases.history") }),
        table(["cases.step-at", "cases.step", "cases.actor", "cases.status", "cases.note"], c.history.map((s) =>
          row(fmt.dateTime(s.at), stepName(s.action), `${s.actor} (${s.role === "system" ? t("cases.system") : t("role." + s.role)})`, statusName(s.status_after), s.note)))));
  }
  async function renderAgain(container, match) { container.replaceChildren(); await renderCase(container, match); }

  register({ id: "cases", nav: "nav.cases", roles: ["operator", "supervisor", "handler"], home: "/cases", pattern: /^\/cases$/, render: renderQueue });
  register({ id: "case", section: "cases", nav: null, roles: ["operator", "supervisor", "handler"], pattern: /^\/cases\/([A-Z0-9]+-\d{8}-\d+)$/, render: renderCase });
  register({ id: "file", section: "live", nav: null, roles: ["operator", "supervisor"], pattern: /^\/calls\/(\d+)\/file$/, render: renderFile });
})();
