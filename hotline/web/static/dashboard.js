// Dashboards: a day's calls per hour, answered within 15 s (GB/T 33358), abandon rate, average
// wait and talk; open and overdue cases per department (now) and the month's survey satisfaction
// per window; redrawn as calls end, and each minute, when the day shown is today.
"use strict";

(() => {
  const { t, fmt, el, label, select, api, onCall, register, go, dayRange, today } = Console;

  async function render(container, match, query) {
    const day = query.get("day") || today();
    const hotline = query.get("hotline") || "";
    const form = el("form", { class: "filters", "aria-label": t("dash.choose") },
      label("audit.day", el("input", { type: "date", name: "day", value: day })),
      label("col.hotline", select("hotline", [["", "audit.any"], ["12345", null], ["12319", null]], hotline)),
      el("button", { type: "submit", text: t("scores.show") }));
    form.addEventListener("submit", (event) => { event.preventDefault(); go("/dashboard?" + new URLSearchParams(new FormData(form))); });
    const tiles = el("div", { class: "tiles", id: "tiles" });
    const chart = el("div", { class: "chart-box", id: "hourly" });
    const month = day.slice(0, 7);
    const workTiles = el("div", { class: "tiles", id: "work-tiles" });
    const load = el("div", { class: "chart-box", id: "departments" });
    const satisfaction = el("div", { class: "chart-box", id: "satisfaction" });
    container.append(el("section", { class: "card" }, el("h2", { text: t("dash.title") }), form, tiles,
      el("h3", { text: t("dash.per-hour") }), chart),
    el("section", { class: "card" }, el("h2", { text: t("dash.work") }), workTiles,
      el("div", { class: "chart-pair" },
        el("div", {}, el("h3", { text: t("dash.per-department") }), load),
        el("div", {}, el("h3", { text: t("dash.satisfaction-month", { month }) }), satisfaction))));
    const tile = (key, value, extra) => el("div", { class: "tile" }, el("div", { class: "tile-label", text: t(key) }), el("div", { class: "tile-value", text: value }), extra || "");
    const legend = (pairs) => el("p", { class: "legend" },
      ...pairs.map(([cls, key]) => el("span", {}, el("span", { class: "swatch " + cls, "aria-hidden": "true" }), t(key))));

    const [since, until] = dayRange(day);
    const params = new URLSearchParams({ since, until });
    if (hotline) params.set("hotline", hotline);
    const draw = async () => {
      const f = await api("/api/v1/dashboard/calls?" + params);
      tiles.replaceChildren(
        tile("dash.calls", String(f.calls)),
        tile("dash.answered", String(f.answered)),
        tile("dash.in-target", fmt.percent(f.answered_in_target_rate),
          Chart.gauge({ value: f.answered_in_target_rate, className: "good", title: t("dash.in-target") + " " + fmt.percent(f.answered_in_target_rate) })),
        tile("dash.abandon", fmt.percent(f.abandon_rate),
          Chart.gauge({ value: f.abandon_rate, className: "bad", title: t("dash.abandon") + " " + fmt.percent(f.abandon_rate) })),
        tile("dash.wait", f.average_wait_seconds === null ? "–" : t("dash.seconds", { n: fmt.seconds(f.average_wait_seconds) })),
        tile("dash.talk", f.average_talk_seconds === null ? "–" : t("dash.seconds", { n: fmt.seconds(f.average_talk_seconds) })),
        tile("dash.ratings", t("dash.ratings-value", f.ratings)));
      // All 24 hours of the centre's day, empty ones included, so the shape of the day shows.
      const byHour = new Map(f.hours.map((h) => [new Date(h.hour).getTime(), h]));
      const start = new Date(since).getTime();
      const hours = Array.from({ length: 24 }, (_, i) => byHour.get(start + i * 3600000) || { hour: new Date(start + i * 3600000).toISOString(), calls: 0, answered_in_target: 0, abandoned: 0, answered: 0 });
      chart.replaceChildren(Chart.bars({
        title: t("dash.per-hour"),
        labels: hours.map((h) => fmt.hour(h.hour)),
        stacks: [
          { name: t("dash.in-target"), className: "good", values: hours.map((h) => h.answered_in_target) },
          { name: t("dash.late"), className: "late", values: hours.map((h) => h.answered - h.answered_in_target) },
          { name: t("disposition.abandoned"), className: "bad", values: hours.map((h) => h.abandoned) },
          { name: t("dash.other"), className: "other", values: hours.map((h) => h.calls - h.answered - h.abandoned) },
        ],
      }), legend([["good", "dash.in-target"], ["late", "dash.late"], ["bad", "disposition.abandoned"], ["other", "dash.other"]]));
      await drawWork();
    };
    // Open cases now, per department (those not dispatched yet first); the month's satisfaction.
    const drawWork = async () => {
      const w = await api("/api/v1/dashboard/departments?" + new URLSearchParams({ month }));
      const s = w.satisfaction;
      const share = (part, whole) => whole ? part / whole : null;
      workTiles.replaceChildren(
        tile("dash.open", String(w.open)),
        tile("dash.overdue", String(w.overdue),
          Chart.gauge({ value: share(w.overdue, w.open), className: "bad", title: t("dash.overdue") + " " + fmt.percent(share(w.overdue, w.open)) })),
        tile("dash.satisfaction", fmt.percent(s.satisfaction_rate),
          Chart.gauge({ value: s.satisfaction_rate, className: "good", title: t("dash.satisfaction") + " " + fmt.percent(s.satisfaction_rate) })),
        tile("dash.surveys", String(s.surveys)));
      const departments = w.departments;
      load.replaceChildren(Chart.rows({
        title: t("dash.per-department"), width: 600,
        labels: departments.map((d) => d.id === null ? t("dash.not-dispatched") : d.name),
        stacks: [
          { name: t("dash.overdue"), className: "bad", values: departments.map((d) => d.overdue) },
          { name: t("dash.in-time"), className: "good", values: departments.map((d) => d.open - d.overdue) },
        ],
        notes: departments.map((d) => t("dash.open-overdue", { open: d.open, overdue: d.overdue })),
      }), legend([["bad", "dash.overdue"], ["good", "dash.in-time"]]));
      satisfaction.replaceChildren(...(s.windows.length ? [Chart.rows({
        title: t("dash.satisfaction-month", { month }), width: 600,
        labels: s.windows.map((x) => x.name || x.window),
        stacks: [
          { name: t("dash.satisfied"), className: "good", values: s.windows.map((x) => x.surveys - x.dissatisfied) },
          { name: t("dash.dissatisfied"), className: "bad", values: s.windows.map((x) => x.dissatisfied) },
        ],
        notes: s.windows.map((x) => t("dash.rate-of", { rate: fmt.percent(x.satisfaction_rate), n: x.surveys })),
      }), legend([["good", "dash.satisfied"], ["bad", "dash.dissatisfied"]])] : [el("p", { class: "muted", id: "no-surveys", text: t("dash.no-surveys") })]));
    };
    await draw();
    if (day !== today()) return null;
    // Live: an ended call changes the figures; redraw at most every few seconds.
    let pending = null;
    const stop = onCall((message) => {
      if (message.type !== "call" || !message.call.ended_at || pending) return;
      pending = setTimeout(() => { pending = null; draw().catch(() => null); }, 3000);
    });
    // Cases move and fall overdue without a call ending: the cases and surveys are redrawn each minute too.
    const minutely = setInterval(() => drawWork().catch(() => null), 60000);
    return () => { stop(); clearInterval(minutely); if (pending) clearTimeout(pending); };
  }

  register({ id: "dashboard", nav: "nav.dashboard", roles: ["supervisor"], home: "/dashboard", pattern: /^\/dashboard$/, render });
})();
