// Live calls: calls in progress from the WebSocket, the latest finished calls from the API.
"use strict";

(() => {
  const { t, fmt, el, table, row, api, onCall, register, state } = Console;
  const active = new Map();
  const recent = new Map();
  let redraw = null;

  // Kept up to date while signed in, whichever page is shown, so the live page opens complete.
  onCall((message) => {
    if (message.type === "snapshot") { active.clear(); message.calls.forEach(apply); }
    else if (message.type === "call") apply(message.call);
    if (redraw) redraw();
  });
  function apply(call) {
    if (call.ended_at) { active.delete(call.id); recent.set(call.id, call); }
    else active.set(call.id, call);
  }

  function status(call) { return el("span", { class: "s-" + call.status, text: t("status." + call.status) }); }
  function disposition(call) { return call.disposition ? el("span", { class: "d-" + call.disposition, text: t("disposition." + call.disposition) }) : ""; }
  function elapsed(call) { return fmt.clock((Date.now() - new Date(call.started_at).getTime()) / 1000); }
  function auditLink(call) {
    const may = state.me.role === "supervisor" || state.me.role === "admin";
    return may && call.recorded ? el("a", { href: `#/audit/call/${call.id}`, text: t("live.listen") }) : "";
  }

  function fileLink(call) {
    return ["operator", "supervisor", "admin"].includes(state.me.role) ? el("a", { href: `#/calls/${call.id}/file`, text: t("live.file-case") }) : "";
  }

  async function render(container) {
    const activeBody = el("tbody", { id: "active" });
    const recentBody = el("tbody", { id: "recent" });
    const count = el("span", { class: "muted", id: "active-count" });
    container.append(
      el("section", { class: "card", "aria-labelledby": "active-title" },
        el("h2", { id: "active-title" }, el("span", { text: t("live.active") }), " ", count),
        el("table", { class: "calls" },
          el("thead", {}, el("tr", {}, ...["col.hotline", "col.caller", "col.name", "col.started", "col.elapsed", "col.status", "col.queue", "col.agent"].map((k) => el("th", { scope: "col", text: t(k) })))),
          activeBody),
        el("p", { class: "muted empty", id: "active-empty", text: t("live.none") })),
      el("section", { class: "card", "aria-labelledby": "recent-title" },
        el("h2", { id: "recent-title", text: t("live.recent") }),
        el("table", { class: "calls" },
          el("thead", {}, el("tr", {}, ...["col.id", "col.hotline", "col.caller", "col.name", "col.started", "col.wait", "col.talk", "col.disposition", "col.agent", "col.recording", "col.case"].map((k) => el("th", { scope: "col", text: t(k) })))),
          recentBody)));
    const page = await api("/api/v1/calls?limit=20");
    page.calls.forEach((call) => { if (call.ended_at && !recent.has(call.id)) recent.set(call.id, call); });

    redraw = () => {
      const calls = [...active.values()].sort((a, b) => a.started_at.localeCompare(b.started_at));
      activeBody.replaceChildren(...calls.map((c) => {
        const tr = row(c.hotline, c.caller_number, c.caller_name, fmt.time(c.started_at), elapsed(c), status(c), c.queue, c.agent);
        tr.dataset.call = c.id;
        return tr;
      }));
      count.textContent = t("live.count", { n: calls.length });
      document.getElementById("active-empty").hidden = calls.length > 0;
      const latest = [...recent.values()].sort((a, b) => b.id - a.id).slice(0, 20);
      recentBody.replaceChildren(...latest.map((c) => {
        const tr = row(String(c.id), c.hotline, c.caller_number, c.caller_name, fmt.dateTime(c.started_at),
          fmt.seconds(c.wait_seconds), fmt.seconds(c.talk_seconds), disposition(c), c.agent, auditLink(c), fileLink(c));
        tr.dataset.call = c.id;
        return tr;
      }));
    };
    redraw();
    const ticking = setInterval(() => { if (active.size) redraw(); }, 1000);
    return () => { clearInterval(ticking); redraw = null; };
  }

  register({ id: "live", nav: "nav.live", roles: ["operator", "supervisor"], home: "/live", pattern: /^\/live$/, render });
})();
