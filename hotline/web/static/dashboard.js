// Dashboards: a day's calls per hour, answered within 15 s (GB/T 33358), abandon rate, average
// wait and talk; redrawn as calls end when the day shown is today.
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
    container.append(el("section", { class: "card" }, el("h2", { text: t("dash.title") }), form, tiles,
      el("h3", { text: t("dash.per-hour") }), chart));

    const [since, until] = dayRange(day);
    const params = new URLSearchParams({ since, until });
    if (hotline) params.set("hotline", hotline);
    const draw = async () => {
      const f = await api("/api/v1/dashboard/calls?" + params);
      const tile = (key, value, extra) => el("div", { class: "tile" }, el("div", { class: "tile-label", text: t(key) }), el("div", { class: "tile-value", text: value }), extra || "");
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
      }), el("p", { class: "legend" },
        ...[["good", "dash.in-target"], ["late", "dash.late"], ["bad", "disposition.abandoned"], ["other", "dash.other"]]
          .map(([cls, key]) => el("span", {}, el("span", { class: "swatch " + cls, "aria-hidden": "true" }), t(key)))));
    };
    await draw();
    if (day !== today()) return null;
    // Live: an ended call changes the figures; redraw at most every few seconds.
    let pending = null;
    const stop = onCall((message) => {
      if (message.type !== "call" || !message.call.ended_at || pending) return;
      pending = setTimeout(() => { pending = null; draw().catch(() => null); }, 3000);
    });
    return () => { stop(); if (pending) clearTimeout(pending); };
  }

  register({ id: "dashboard", nav: "nav.dashboard", roles: ["supervisor"], home: "/dashboard", pattern: /^\/dashboard$/, render });
})();
