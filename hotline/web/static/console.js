// The console's core: language catalogues, the API with the session's CSRF token, the centre's
// time zone, DOM building, and the page registry each view adds its pages to.
"use strict";

const Console = (() => {
  const pages = [];
  const state = { me: null, lang: "zh-CN", catalogue: {}, socket: null, listeners: new Set() };
  const LANGUAGES = ["zh-CN", "en"];

  // ---- language -------------------------------------------------------------------------
  function t(key, vars) {
    let text = state.catalogue[key];
    if (text === undefined) { console.warn("missing catalogue key", key); text = key; }
    for (const [name, value] of Object.entries(vars || {})) text = text.replaceAll(`{${name}}`, String(value));
    return text;
  }
  async function loadLanguage(lang) {
    const response = await fetch(`/ui/i18n/${lang}.json`);
    state.catalogue = await response.json();
    state.lang = lang;
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
    document.title = t("app.title");
  }

  // ---- times and numbers in the centre's zone ------------------------------------------------
  function zone() { return state.me ? state.me.timezone : "Asia/Shanghai"; }
  function formatter(options) { return new Intl.DateTimeFormat(state.lang, { timeZone: zone(), hour12: false, ...options }); }
  const fmt = {
    dateTime: (iso) => iso ? formatter({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(iso)) : "",
    shortDateTime: (iso) => iso ? formatter({ month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).format(new Date(iso)) : "",
    time: (iso) => iso ? formatter({ hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(iso)) : "",
    hour: (iso) => formatter({ hour: "2-digit" }).format(new Date(iso)),
    seconds: (value) => value === null || value === undefined ? "" : Number(value).toFixed(1),
    percent: (value) => value === null || value === undefined ? "–" : (value * 100).toFixed(1) + "%",
    clock: (seconds) => { const s = Math.max(0, Math.floor(seconds)); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; },
  };
  // The centre's calendar day `day` (YYYY-MM-DD) as [start, end) instants in UTC ISO form.
  function zoneOffsetMinutes(instant) {
    const parts = Object.fromEntries(formatter({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(instant).map((p) => [p.type, p.value]));
    const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24, +parts.minute, +parts.second);
    return (asUtc - instant.getTime()) / 60000;
  }
  function dayRange(day) {
    const [y, m, d] = day.split("-").map(Number);
    const start = (dd) => { const guess = new Date(Date.UTC(y, m - 1, dd)); return new Date(guess.getTime() - zoneOffsetMinutes(guess) * 60000); };
    return [start(d).toISOString(), start(d + 1).toISOString()];
  }
  function today() {
    const parts = Object.fromEntries(formatter({ year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(new Date()).map((p) => [p.type, p.value]));
    return `${parts.year}-${parts.month}-${parts.day}`;
  }

  // ---- DOM ------------------------------------------------------------------------------------
  // el("td", {class: "x", text: t(KEY)}, child, ...): text is always set as text, never HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }
  function table(headKeys, rows, caption) {
    return el("table", {}, caption ? el("caption", { class: "sr-only", text: caption }) : null,
      el("thead", {}, el("tr", {}, ...headKeys.map((key) => el("th", { scope: "col", text: t(key) })))),
      el("tbody", {}, ...rows));
  }
  function row(...cells) { return el("tr", {}, ...cells.map((c) => c instanceof Node ? el("td", {}, c) : el("td", { text: c ?? "" }))); }
  // A case's page, linked from any page that names a case.
  function caseLink(number) { return el("a", { href: `#/cases/${number}`, text: number }); }
  function label(key, control) { return el("label", {}, el("span", { text: t(key) }), control); }
  function select(name, options, value) {
    return el("select", { name }, ...options.map(([v, key]) => el("option", { value: v, selected: v === value, text: key === null ? v : t(key) })));
  }

  // ---- the API --------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) { super(body && body.message || String(status)); this.status = status; this.body = body; }
  }
  async function api(path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    const method = options.method || "GET";
    // The session's CSRF token goes with every request that changes anything (the server refuses
    // one without it); the cookie itself is sent by the browser.
    if (method !== "GET" && state.me && state.me.csrf_token) headers["X-CSRF-Token"] = state.me.csrf_token;
    if (options.json !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, credentials: "same-origin", body: options.json === undefined ? undefined : JSON.stringify(options.json) });
    const body = response.status === 204 ? null : await response.json().catch(() => null);
    if (response.status === 401 && path !== "/api/v1/sign-in") { signedOut(); throw new ApiError(401, body); }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }
  function errorText(error) {
    if (error.status === 403) return t("error.forbidden");
    if (error.status === 404) return t("error.not-found");
    if (error.status === 429) return t("signin.throttled");
    return t("error.generic", { message: error.message });
  }

  // ---- live call updates (one WebSocket, shared by the views) ---------------------------------
  function connect() {
    // Live calls are for the roles that may read calls (the server refuses the others the
    // WebSocket, and retrying would show "reconnecting" to a handler for ever).
    if (state.socket || !state.me || !["operator", "supervisor", "admin"].includes(state.me.role)) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/events`);
    state.socket = ws;
    const link = document.getElementById("link");
    ws.onopen = () => { link.textContent = t("live.connected"); link.className = "ok"; };
    ws.onmessage = (message) => { const data = JSON.parse(message.data); state.listeners.forEach((fn) => fn(data)); };
    ws.onclose = (event) => {
      state.socket = null;
      link.textContent = t("live.reconnecting"); link.className = "warn";
      // 1008: the user was revoked; the next API call finds the session gone and shows sign-in.
      if (state.me && event.code !== 1008) setTimeout(connect, 2000);
      else if (event.code === 1008) signedOut();
    };
  }
  function onCall(listener) { state.listeners.add(listener); return () => state.listeners.delete(listener); }

  // ---- pages and routing ----------------------------------------------------------------------
  // A page: {id, nav (catalogue key, or null for pages reached by link), roles, pattern (RegExp
  // on the hash path), render(container, match, query)}. Each view's script registers its own.
  function register(page) { pages.push(page); }
  function allowed(page) { return state.me && (state.me.role === "admin" || page.roles.includes(state.me.role)); }
  function go(path) { location.hash = "#" + path; }
  let leave = null, turns = 0;
  async function route() {
    if (!state.me) return;
    const [path, search] = (location.hash.slice(1) || "").split("?");
    const query = new URLSearchParams(search || "");
    let page = null, match = null;
    for (const candidate of pages.filter(allowed)) {
      match = candidate.pattern.exec(path);
      if (match) { page = candidate; break; }
    }
    if (!page) {
      const first = pages.find((p) => p.nav && allowed(p));
      if (first) go(first.home);
      else document.getElementById("page").replaceChildren(el("p", { class: "card muted", id: "no-pages", text: t("app.no-pages") }));
      return;
    }
    if (leave) { leave(); leave = null; }
    document.querySelectorAll("#nav-list a").forEach((a) => a.toggleAttribute("aria-current", a.dataset.page === (page.section || page.id)));
    // Each route renders into a box of its own: a render still waiting for the server when the
    // next route starts (a week typed while this week loads) fills its own detached box, not the
    // page, and what it returns to stop its updates is called at once instead of kept.
    const turn = ++turns;
    const container = el("div", { class: "view" });
    document.getElementById("page").replaceChildren(container);
    try {
      const stop = await page.render(container, match, query) || null;
      if (turn === turns) leave = stop; else if (stop) stop();
    }
    catch (error) { container.replaceChildren(el("p", { class: "error", role: "alert", text: errorText(error) })); }
  }
  function drawNav() {
    document.getElementById("nav-list").replaceChildren(...pages.filter((p) => p.nav && allowed(p)).map((p) =>
      el("li", {}, el("a", { href: "#" + p.home, "data-page": p.id, text: t(p.nav) }))));
  }

  // ---- signing in and out ---------------------------------------------------------------------
  function signedIn(me) {
    state.me = me;
    document.getElementById("signin").hidden = true;
    document.getElementById("sign-out").hidden = false;
    document.getElementById("user").textContent = t("app.user", { name: me.name, role: t("role." + me.role) });
    drawNav();
    connect();
    route();
  }
  function signedOut() {
    state.me = null;
    if (state.socket) state.socket.close();
    if (leave) { leave(); leave = null; }
    document.getElementById("page").replaceChildren();
    document.getElementById("pop").replaceChildren();
    document.getElementById("nav-list").replaceChildren();
    document.getElementById("user").textContent = "";
    document.getElementById("link").textContent = "";
    document.getElementById("sign-out").hidden = true;
    document.getElementById("signin").hidden = false;
    document.getElementById("signin-name").focus();
  }
  async function signIn(event) {
    event.preventDefault();
    const error = document.getElementById("signin-error");
    error.textContent = "";
    const name = document.getElementById("signin-name").value.trim();
    const password = document.getElementById("signin-password").value;
    try {
      const me = await api("/api/v1/sign-in", { method: "POST", json: { name, password } });
      document.getElementById("signin-password").value = "";
      signedIn(me);
    } catch (failure) {
      error.textContent = failure.status === 401 ? t("signin.wrong") : errorText(failure);
    }
  }
  async function signOut() {
    await api("/api/v1/sign-out", { method: "POST" }).catch(() => null);
    signedOut();
  }

  async function start() {
    const saved = localStorage.getItem("hotline.lang");
    await loadLanguage(LANGUAGES.includes(saved) ? saved : "zh-CN");
    const language = document.getElementById("language");
    language.value = state.lang;
    language.addEventListener("change", async () => {
      localStorage.setItem("hotline.lang", language.value);
      await loadLanguage(language.value);
      if (state.me) signedIn(state.me); else signedOut();
    });
    document.getElementById("signin-form").addEventListener("submit", signIn);
    document.getElementById("sign-out").addEventListener("click", signOut);
    window.addEventListener("hashchange", route);
    try { signedIn(await api("/api/v1/me")); } catch (error) { signedOut(); }
  }

  return { t, fmt, dayRange, today, el, table, row, label, caseLink, select, api, errorText, onCall, register, go, start, state };
})();
