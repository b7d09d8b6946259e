// Callback surveys: one ISO week's drawn citizens, how each call went, what they
// answered and said, and below it the satisfaction per window of the month the week counts in.
"use strict";

(() => {
  const { t, fmt, el, label, caseLink, api, errorText, register, go, today } = Console;
  const STATUSES = ["pending", "calling", "completed", "partial", "unreachable", "opted-out"];
  const OUTCOMES = ["answered", "busy", "no-answer", "congestion", "failure", "unknown", "in-progress"];
  const STATES = ["transcribed", "no-speech", "pending", "failed", "not-queued", "no-recording"];
  const QUESTIONS = ["attitude", "efficiency", "compliance"];
  const NONE = "—";
  const DAY = 86400000;

  // ---- ISO 8601 weeks ------------------------------------------------------------------------
  // Computed on UTC dates so that no time zone moves a day. A week belongs to the year, and for
  // the results to the month, of its Thursday (hotline/surveys/results.py week_month).
  const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
  function weekOf(day) {
    const [y, m, d] = day.split("-").map(Number);
    const date = Date.UTC(y, m - 1, d);
    const thursday = date + (3 - (new Date(date).getUTCDay() + 6) % 7) * DAY;
    const year = new Date(thursday).getUTCFullYear();
    return `${year}-W${String(Math.floor((thursday - Date.UTC(year, 0, 1)) / DAY / 7) + 1).padStart(2, "0")}`;
  }
  // The Monday of `week` (ms, UTC), or null for a week its year does not have (2027-W53).
  function mondayOf(week) {
    const found = /^(\d{4})-W(\d{2})$/.exec(week);
    if (!found) return null;
    const jan4 = Date.UTC(+found[1], 0, 4);
    const monday = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * DAY + (+found[2] - 1) * 7 * DAY;
    return weekOf(isoDay(monday)) === week ? monday : null;
  }

  // ---- names -----------------------------------------------------------------------------------
  const known = (list, value, prefix) => list.includes(value) ? t(prefix + value) : value;
  const statusName = (status) => known(STATUSES, status, "survey-status.");
  const outcomeName = (outcome) => known(OUTCOMES, outcome, "survey-outcome.");
  const stateName = (state) => known(STATES, String(state).replaceAll(" ", "-"), "survey-suggestion.");
  function answerName(answer) {
    return [1, 2, 3].includes(answer) ? el("span", { class: answer === 3 ? "bad" : "", text: t("survey-answer." + answer) }) : NONE;
  }
  // The server says why a week is short in English (results.shortfall, store._add_round); the
  // reasons it gives are translated here, any other is shown as it came.
  const REASONS = [
    [/^not drawn yet$/, () => t("surveys.shortfall.not-drawn")],
    [/^week in progress: (\d+) surveys still to call$/, (m) => t("surveys.shortfall.in-progress", { n: m[1] })],
    [/^the week ended with (\d+) surveys not completed$/, (m) => t("surveys.shortfall.ended", { n: m[1] })],
    // Round 0 is the week's first draw, the later rounds replace spent surveys.
    [/^population exhausted: round (\d+) wanted (\d+) and found (\d+) eligible citizens$/, (m) => m[1] === "0"
      ? t("surveys.shortfall.exhausted-first", { wanted: m[2], found: m[3] })
      : t("surveys.shortfall.exhausted-replacement", { round: m[1], wanted: m[2], found: m[3] })],
  ];
  function reasonText(reason) {
    for (const [pattern, say] of REASONS) { const m = pattern.exec(reason); if (m) return say(m); }
    return reason;
  }
  const cell = (content, attrs) => el("td", attrs || {}, content ?? "");

  // ---- one survey --------------------------------------------------------------------------
  function attempts(list) {
    if (!list.length) return NONE;
    const last = list[list.length - 1];
    return el("span", {}, t("surveys.attempts", { n: list.length, outcome: outcomeName(last.outcome) }),
      el("br"), el("span", { class: "muted", text: fmt.shortDateTime(last.at) }));
  }
  // Its transcript's text from the results (or why there is none), and the call it was said on.
  function suggestion(survey, said) {
    if (!survey.suggestion) return NONE;
    const found = said.get(survey.case);
    const words = found ? (found.transcript ?? stateName(found.state)) : t("surveys.suggestion-recorded");
    const call = survey.suggestion.call;
    return el("span", {}, el("span", { class: found && found.transcript ? "said" : "muted", text: words }),
      call ? " " : null, call ? el("a", { href: `#/audit/call/${call}`, text: t("surveys.suggestion-call", { id: call }) }) : null);
  }
  function surveyRow(survey, said) {
    return el("tr", { dataset: { case: survey.case } },
      cell(caseLink(survey.case)), cell(survey.window), cell(survey.staff), cell(survey.phone),
      cell(statusName(survey.status), { class: "status-" + survey.status }), cell(attempts(survey.attempts)),
      ...QUESTIONS.map((q) => cell(answerName(survey.answers[q]))),
      cell(suggestion(survey, said), { class: "wrap" }),
      cell(survey.complaint_case ? caseLink(survey.complaint_case) : NONE, { class: "keep" }));
  }
  const head = (keys) => el("thead", {}, el("tr", {}, ...keys.map((key) => el("th", { scope: "col", text: t(key) }))));

  // ---- the page --------------------------------------------------------------------------------
  async function render(container, match, query) {
    const current = weekOf(today());
    const week = (query.get("week") || current).toUpperCase();
    const monday = mondayOf(week);
    const to = (ms) => "#/surveys?week=" + weekOf(isoDay(ms));
    const input = el("input", { name: "week", id: "survey-week", value: week, size: 9, required: true,
      pattern: "[0-9]{4}-[Ww][0-9]{2}", "aria-describedby": "survey-week-hint" });
    const form = el("form", { class: "filters", "aria-label": t("surveys.choose") },
      label("surveys.week", input),
      el("span", { id: "survey-week-hint", class: "muted", text: t("surveys.week-hint") }),
      el("button", { type: "submit", text: t("scores.show") }),
      monday !== null ? el("a", { class: "button", id: "week-previous", href: to(monday - 7 * DAY), text: t("surveys.previous") }) : null,
      monday !== null ? el("a", { class: "button", id: "week-next", href: to(monday + 7 * DAY), text: t("surveys.next") }) : null,
      week !== current ? el("a", { class: "button", id: "week-current", href: "#/surveys", text: t("surveys.current") }) : null);
    form.addEventListener("submit", (event) => { event.preventDefault(); go("/surveys?week=" + encodeURIComponent(input.value.trim().toUpperCase())); });
    const summary = el("div", { id: "survey-summary" });
    const results = el("div", { id: "survey-results" });
    const weekCard = el("section", { class: "card" }, el("h2", { text: t("surveys.title") }), form, summary, results);
    container.append(weekCard);
    if (monday === null) {
      results.append(el("p", { class: "error", role: "alert", text: t("surveys.no-such-week", { week }) }));
      return;
    }
    const month = isoDay(monday + 3 * DAY).slice(0, 7);
    summary.append(el("p", { class: "muted", text: t("surveys.week-range", { week, from: isoDay(monday), to: isoDay(monday + 6 * DAY), month }) }));
    let surveys, figures, heard;
    try {
      // The week's results bring its suggestions' transcripts (each read is audited); the
      // month's figures come without any, so no transcript this page does not show is read.
      [surveys, heard, figures] = await Promise.all([
        api("/api/v1/surveys?" + new URLSearchParams({ week })),
        api("/api/v1/surveys/results?" + new URLSearchParams({ week })),
        api("/api/v1/surveys/results?" + new URLSearchParams({ month, by: "window", suggestions: "false" }))]);
    } catch (error) {
      results.append(el("p", { class: "error", role: "alert", text: errorText(error) }));
      return;
    }

    // What the week asks for: `completed` plus what it lacks (the API's shortfall is counted
    // against [surveys] per_week, five by default).
    const wanted = surveys.completed + surveys.shortfall.count;
    summary.append(el("p", { class: "summary" },
      el("strong", { id: "survey-completed", text: t("surveys.completed", { completed: surveys.completed, wanted }) }),
      surveys.shortfall.count ? " " : null,
      surveys.shortfall.count ? el("span", { id: "survey-shortfall", class: "bad", text: t("surveys.shortfall", { reason: reasonText(surveys.shortfall.reason) }) }) : null,
      surveys.seed ? " " : null,
      surveys.seed ? el("span", { class: "muted", text: t("surveys.seed", { seed: surveys.seed }) }) : null));
    const said = new Map(heard.suggestions.map((s) => [s.case, s]));
    results.append(surveys.surveys.length ?
      el("table", { class: "surveys" }, head(["cases.number", "surveys.window", "surveys.staff", "surveys.phone", "surveys.status",
        "surveys.calls", "survey-question.attitude", "survey-question.efficiency", "survey-question.compliance",
        "surveys.suggestion", "surveys.complaint"]),
      el("tbody", { id: "survey-rows" }, ...surveys.surveys.map((s) => surveyRow(s, said)))) :
      el("p", { class: "muted", id: "survey-none", text: t("surveys.none") }));

    const windows = Object.entries(figures.window || {});
    const figureRow = (name, f, attrs) => el("tr", attrs || {}, cell(name), cell(String(f.surveys)), cell(String(f.completed)),
      cell(String(f.partial)), cell(String(f.answered_surveys)), cell(String(f.dissatisfied_surveys)),
      cell(fmt.percent(f.satisfaction_rate), { class: "rate" }));
    container.append(el("section", { class: "card", id: "survey-month" },
      el("h2", { text: t("surveys.month-title", { month }) }),
      figures.total.surveys ? el("table", {}, head(["surveys.window", "surveys.surveys", "survey-status.completed", "survey-status.partial",
        "surveys.answered", "surveys.dissatisfied", "surveys.rate"]),
      el("tbody", { id: "survey-month-rows" }, ...windows.map(([window, f]) => figureRow(window, f, { dataset: { window } })),
        figureRow(t("surveys.total"), figures.total, { class: "total" }))) :
        el("p", { class: "muted", text: t("surveys.month-none") }),
      el("p", { class: "muted", text: t("surveys.rate-defined") })));
  }

  register({ id: "surveys", nav: "nav.surveys", roles: ["supervisor"], home: "/surveys", pattern: /^\/surveys$/, render });
})();
