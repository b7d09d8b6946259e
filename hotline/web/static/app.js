// The operator's live view: calls in progress from the WebSocket, finished calls from the API.
"use strict";
const tokenKey = "hotline.token";
const recent = new Map();
const active = new Map();

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (cls) td.className = cls;
  return td;
}
function time(iso) { return iso ? new Date(iso).toLocaleTimeString() : ""; }

function render() {
  const activeBody = document.getElementById("active");
  activeBody.replaceChildren(...[...active.values()].map((c) => {
    const tr = document.createElement("tr");
    tr.append(cell(c.hotline), cell(c.caller_number), cell(c.caller_name), cell(time(c.started_at)),
              cell(c.status, "s-" + c.status), cell(c.queue), cell(c.agent));
    return tr;
  }));
  document.getElementById("active-count").textContent = `(${active.size})`;
  const rows = [...recent.values()].sort((a, b) => b.id - a.id).slice(0, 50);
  document.getElementById("recent").replaceChildren(...rows.map((c) => {
    const tr = document.createElement("tr");
    tr.append(cell(c.id), cell(c.hotline), cell(c.caller_number), cell(c.caller_name), cell(time(c.started_at)),
              cell(c.wait_seconds?.toFixed(1)), cell(c.talk_seconds?.toFixed(1)),
              cell(c.disposition, "d-" + c.disposition), cell(c.hangup_cause_text), cell(c.agent));
    return tr;
  }));
}

function apply(call) {
  if (call.ended_at) { active.delete(call.id); recent.set(call.id, call); }
  else active.set(call.id, call);
}

async function start(token) {
  const response = await fetch("/api/v1/calls?limit=50", { headers: { Authorization: "Bearer " + token } });
  if (response.status === 401) { localStorage.removeItem(tokenKey); askToken(); return; }
  const page = await response.json();
  page.calls.filter((c) => c.ended_at).forEach((c) => recent.set(c.id, c));
  render();
  connect(token);
}

function connect(token) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/v1/events?access_token=${encodeURIComponent(token)}`);
  const link = document.getElementById("link");
  ws.onopen = () => { link.textContent = "live"; };
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "snapshot") { active.clear(); data.calls.forEach(apply); }
    else if (data.type === "call") apply(data.call);
    render();
  };
  ws.onclose = (event) => {
    // 1008: the server closed the socket because this token was revoked; retrying cannot help.
    if (event.code === 1008) { localStorage.removeItem(tokenKey); link.textContent = "signed out"; askToken(); return; }
    link.textContent = "reconnecting…";
    setTimeout(() => connect(token), 2000);
  };
}

function askToken() {
  const section = document.getElementById("login");
  section.hidden = false;
  document.getElementById("login-form").onsubmit = (event) => {
    event.preventDefault();
    const token = document.getElementById("token").value.trim();
    localStorage.setItem(tokenKey, token);
    section.hidden = true;
    start(token);
  };
}

// The demo prints a URL with #token=...; keep it out of the address bar and history.
const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromUrl) { localStorage.setItem(tokenKey, fromUrl); history.replaceState(null, "", "/"); }
const saved = localStorage.getItem(tokenKey);
if (saved) start(saved); else askToken();
