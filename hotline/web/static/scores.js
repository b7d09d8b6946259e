// Scores: a period's ranking with red flags and ties at the cut, a subject's breakdown down to
// each occurrence and its evidence, and the monthly meeting report to download.
"use strict";

(() => {
  const { t, el, table, row, label, select, api, register, go, today } = Console;
  const KINDS = ["month", "quarter", "year"];

  function defaults(query) {
    const kind = KINDS.includes(query.get("kind")) ? query.get("kind") : "month";
    const now = today();
    const fallback = { month: now.slice(0, 7), quarter: `${now.slice(0, 4)}-Q${Math.floor((+now.slice(5, 7) - 1) / 3) + 1}`, year: now.slice(0, 4) }[kind];
    return { rubric: query.get("rubric") || "yihuang-window", kind, period: query.get("period") || fallback };
  }
  function search(choice) { return new URLSearchParams(choice).toString(); }
  async function board(choice) {
    return api(`/api/v1/scores/${choice.kind}?` + new URLSearchParams({ rubric: choice.rubric, [choice.kind]: choice.period }));
  }
  // Evidence names what caused a deduction: `call:ID@SECONDS` opens the recording at that moment.
  function evidence(text) {
    const call = /^call:(\d+)(?:@([\d.]+))?$/.exec(text || "");
    if (call) return el("a", { href: `#/audit/call/${call[1]}` + (call[2] ? `?t=${call[2]}` : ""), text: t("scores.evidence-call", { id: call[1] }) });
    // A verified complaint or a late case: `case NUMBER; call ID recording ID transcript OFFSETs`.
    const filed = /^case (\S+?)(?:;|$)/.exec(text || "");
    if (filed) {
      const heard = /call (\d+)(?: recording \d+)?(?: transcript ([\d.]+)s)?/.exec(text);
      return el("span", {}, el("a", { href: `#/cases/${filed[1]}`, text: t("scores.evidence-case", { number: filed[1] }) }),
        heard ? " · " : null, heard ? el("a", { href: `#/audit/call/${heard[1]}` + (heard[2] ? `?t=${heard[2]}` : ""), text: t("scores.evidence-call", { id: heard[1] }) }) : null);
    }
    return text || "–";
  }

  const SOURCES = ["source.inspection", "source.attendance", "source.complaint", "source.survey", "source.overdue-case", "source.media", "source.manual"];
  function sourceName(source) { return SOURCES.includes("source." + source) ? t("source." + source) : source; }

  async function renderBoard(container, match, query) {
    const choice = defaults(query);
    const rubrics = (await api("/api/v1/scores/rubrics")).rubrics;
    const form = el("form", { class: "filters", "aria-label": t("scores.choose") },
      label("scores.rubric", select("rubric", rubrics.map((r) => [r.id, null]), choice.rubric)),
      label("scores.kind", select("kind", KINDS.map((k) => [k, "scores.kind." + k]), choice.kind)),
      label("scores.period", el("input", { name: "period", value: choice.period, size: 8, pattern: "[0-9]{4}(-[0-9]{2}|-Q[1-4])?", "aria-describedby": "period-hint" })),
      el("span", { id: "period-hint", class: "muted", text: t("scores.period-hint") }),
      el("button", { type: "submit", text: t("scores.show") }));
    form.addEventListener("submit", (event) => { event.preventDefault(); go("/scores?" + search(Object.fromEntries(new FormData(form)))); });
    const section = el("section", { class: "card" }, el("h2", { text: t("scores.title") }), form);
    container.append(section);
    const result = await board(choice);
    const title = rubrics.find((r) => r.id === choice.rubric);
    const categories = result.results.length ? Object.keys(result.results[0].categories) : [];
    // The award is named by the rubric (a red flag monthly, advanced collective at year end).
    const award = result.award ? result.award.name : t("scores.red-flag");
    section.append(
      el("p", { class: "muted", text: `${title ? title.title : choice.rubric} · ${result.period}` }),
      choice.kind === "month" ? el("p", {}, el("a", { class: "button", href: "/api/v1/scores/report?" + new URLSearchParams({ rubric: choice.rubric, month: choice.period }), download: "", text: t("scores.report") })) : "",
      ...result.ties_at_cut.map((tie) => el("p", { class: "tie", role: "note", text: t(tie.decided ? "scores.tie-decided" : "scores.tie-open", { rank: tie.rank, total: tie.total, subjects: tie.subjects.join(t("app.list-separator")), places: tie.places }) })),
      result.results.length ? table(["scores.rank", "scores.subject", "scores.total", ...categories.map(() => "scores.category"), "scores.bonus", "scores.flag", "scores.note"],
        result.results.map((r) => {
          const tr = row(String(r.rank), el("a", { href: `#/scores/subject/${encodeURIComponent(r.subject)}?` + search(choice), text: r.name }), String(r.total),
            ...categories.map((c) => String(r.categories[c])), String(r.bonus),
            r.red_flag ? el("span", { class: "flag", text: award }) : (r.disqualified ? t("scores.disqualified") : ""), r.note);
          if (r.red_flag) tr.className = "flagged";
          return tr;
        })) : el("p", { class: "muted", text: t("scores.empty") }));
    // The category columns carry the rubric's own names for them (the rubric's text, not the UI's).
    section.querySelectorAll("thead th").forEach((th, i) => {
      if (i >= 3 && i < 3 + categories.length) th.textContent = (title && title.categories[categories[i - 3]]) || categories[i - 3];
      if (i === 4 + categories.length) th.textContent = award;
    });
  }

  async function renderSubject(container, match, query) {
    const choice = defaults(query);
    const subject = decodeURIComponent(match[1]);
    const rubric = (await api("/api/v1/scores/rubrics")).rubrics.find((r) => r.id === choice.rubric);
    const result = (await board(choice)).results.find((r) => r.subject === subject);
    const back = el("p", {}, el("a", { href: "#/scores?" + search(choice), text: t("scores.back") }));
    if (!result) { container.append(el("section", { class: "card" }, back, el("p", { class: "muted", text: t("scores.empty") }))); return; }
    container.append(el("section", { class: "card" }, back,
      el("h2", { text: t("scores.breakdown", { name: result.name, period: choice.period }) }),
      el("p", { class: "summary", text: t("scores.summary", { total: result.total, rank: result.rank, bonus: result.bonus }) }),
      result.red_flag ? el("p", { class: "flag", text: t("scores.red-flag") }) : "",
      result.disqualified ? el("p", { class: "bad", text: t("scores.disqualified-because", { why: result.disqualified_because.join("; ") }) }) : "",
      el("dl", { class: "facts" }, ...Object.entries(result.categories).flatMap(([c, v]) => [el("dt", { text: (rubric && rubric.categories[c]) || c }), el("dd", { text: String(v) })])),
      result.breakdown.length ? table(["scores.date", "scores.item", "scores.count", "scores.points", "scores.evidence", "scores.source", "scores.entered-by", "scores.note"],
        result.breakdown.map((line) => row(line.date, line.item_name, String(line.count), String(line.points), evidence(line.evidence), sourceName(line.source), line.entered_by, line.note))) :
        el("p", { class: "muted", text: t("scores.no-lines") })));
  }

  register({ id: "scores", nav: "nav.scores", roles: ["supervisor"], home: "/scores", pattern: /^\/scores$/, render: renderBoard });
  register({ id: "scores-subject", section: "scores", nav: null, roles: ["supervisor"], pattern: /^\/scores\/subject\/([^/]+)$/, render: renderSubject });
})();
