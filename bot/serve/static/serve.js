// The notetaker's page: everything comes from the REST API with the token the user gave once.
// Data is only ever put into the page as text (textContent), never as HTML: display names are not trusted.
"use strict";

const TOKEN_KEY = "jitsi-notetaker.token";
const FINAL = new Set(["done", "failed", "stopped"]);
const $ = (id) => document.getElementById(id);
const LIST_LIMIT = 200; // the newest bots; the API has them all
let watching = null; // {id, abort, final}
let listTimer = null;

function token() { return localStorage.getItem(TOKEN_KEY); }

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) { forget("The token was refused."); throw new Error("unauthorized"); }
  return response;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
  return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }

function showApp() {
  $("login").hidden = true; $("app").hidden = false; $("forget").hidden = false;
  refresh();
  if (listTimer === null) listTimer = setInterval(refresh, 2000);
}

function forget(message) {
  localStorage.removeItem(TOKEN_KEY);
  if (listTimer !== null) { clearInterval(listTimer); listTimer = null; }
  if (watching) { watching.abort.abort(); watching = null; }
  $("app").hidden = true; $("forget").hidden = true; $("login").hidden = false;
  $("token-error").textContent = message || "";
}

async function useToken(event) {
  event.preventDefault();
  localStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  try {
    const response = await api("/api/v1/bots");
    if (response.ok) showApp();
  } catch (e) { /* forget() has said why */ }
}

async function invite(event) {
  event.preventDefault();
  $("invite-error").textContent = "";
  const body = { meeting_url: $("meeting_url").value.trim() };
  const emails = $("email").value.split(/[\s,;]+/).filter(Boolean);
  if (emails.length) body.email = emails;
  if ($("bot_name").value.trim()) body.bot_name = $("bot_name").value.trim();
  $("invite-button").disabled = true;
  try {
    const response = await api("/api/v1/bots", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      $("invite-error").textContent = (answer.field ? answer.field + ": " : "") + (answer.error || response.statusText);
      return;
    }
    $("meeting_url").value = "";
    await refresh();
    watch(answer);
  } catch (e) {
    if (e.message !== "unauthorized") $("invite-error").textContent = "The server did not answer: " + e.message;
  } finally {
    $("invite-button").disabled = false;
  }
}

async function refresh() {
  try {
    const response = await api("/api/v1/bots?limit=" + LIST_LIMIT);
    if (!response.ok) { $("list-error").textContent = "Listing bots failed: " + response.status; return; }
    const answer = await response.json();
    render(Array.isArray(answer) ? answer : answer.bots || []);
    $("list-error").textContent = "";
  } catch (e) {
    if (e.message !== "unauthorized") $("list-error").textContent = "The server did not answer.";
  }
}

function render(bots) {
  const body = $("bots").tBodies[0];
  body.replaceChildren();
  $("no-bots").hidden = bots.length > 0;
  for (const bot of bots) {
    const row = document.createElement("tr");
    row.dataset.bot = bot.id;
    row.append(el("td", bot.meeting_url, "meeting"));
    const status = el("td");
    status.append(el("span", bot.status, "status " + bot.status));
    if (bot.end_reason) status.append(el("span", " " + bot.end_reason.replaceAll("_", " "), "muted"));
    row.append(status, el("td", bot.participants ?? ""), el("td", when(bot.created_at)));
    const actions = el("td");
    const live = el("button", "Live transcript", "link");
    live.type = "button"; live.addEventListener("click", () => watch(bot));
    actions.append(live);
    if (FINAL.has(bot.status)) {
      const summary = el("button", "Summary", "link");
      summary.type = "button"; summary.addEventListener("click", () => showSummary(bot));
      actions.append(summary);
    } else {
      const stop = el("button", "Stop", "link danger");
      stop.type = "button"; stop.addEventListener("click", () => stopBot(bot));
      actions.append(stop);
    }
    row.append(actions);
    body.append(row);
  }
}

async function stopBot(bot) {
  if (!confirm("Stop the notetaker in " + bot.meeting_url + "? It leaves and still sends the notes.")) return;
  try { await api("/api/v1/bots/" + encodeURIComponent(bot.id), { method: "DELETE" }); } catch (e) { /* shown by refresh */ }
  refresh();
}

async function showSummary(bot) {
  $("summary").hidden = false;
  $("summary-title").textContent = bot.meeting_url;
  const frame = $("summary-frame");
  try {
    const response = await api("/api/v1/bots/" + encodeURIComponent(bot.id) + "/summary.html");
    // srcdoc in a sandbox without allow-scripts or allow-same-origin: the summary cannot run script or read the token.
    frame.srcdoc = response.ok ? await response.text() : "<p>No summary: " + response.status + "</p>";
  } catch (e) { frame.srcdoc = "<p>The server did not answer.</p>"; }
  $("summary").scrollIntoView();
}

function addSegment(segment) {
  const item = el("li");
  item.append(el("span", clock(segment.start_s), "at"), el("span", segment.name, "who"), document.createTextNode(": "),
              el("span", segment.text));
  const list = $("live");
  const atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.append(item);
  if (atEnd) list.scrollTop = list.scrollHeight;
}

function setWatchStatus(bot) {
  const badge = $("watch-status");
  badge.textContent = bot.status; badge.className = "status " + bot.status;
}

// The events stream is Server-Sent Events read with fetch(), because EventSource cannot send the token.
// A stream that breaks before the bot has ended is opened again (after 1, 2, 4 ... up to 30 s); each opening
// replays the bot's transcript, so the list is drawn afresh.
async function watch(bot) {
  if (watching) watching.abort.abort();
  const abort = new AbortController();
  const current = { id: bot.id, abort, final: FINAL.has(bot.status) };
  watching = current;
  $("watch").hidden = false;
  $("watch-title").textContent = bot.meeting_url;
  $("live").replaceChildren();
  setWatchStatus(bot);
  let delay = 1000;
  for (;;) {
    let opened = false;
    try {
      const response = await api("/api/v1/bots/" + encodeURIComponent(bot.id) + "/events", { signal: abort.signal });
      if (response.status === 404) return;
      if (response.ok) {
        opened = true;
        $("live").replaceChildren();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            handle(buffer.slice(0, cut), current);
            buffer = buffer.slice(cut + 2);
          }
        }
      }
    } catch (e) {
      if (e.message === "unauthorized") return; /* else the stream broke, or the server went away */
    }
    if (abort.signal.aborted || current.final || watching !== current) return;
    if (opened) delay = 1000;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 30000);
    if (abort.signal.aborted || watching !== current) return;
  }
}

function handle(block, current) {
  let event = "message"; const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return;
  let payload;
  try { payload = JSON.parse(data.join("\n")); } catch (e) { return; }
  if (event === "segment") addSegment(payload);
  else if (event === "status") { setWatchStatus(payload); refresh(); if (FINAL.has(payload.status)) current.final = true; }
  else if (event === "skipped") $("live").append(el("li", payload.segments + " earlier lines are not shown.", "muted"));
  else if (event === "end" && payload.reason === "final") current.final = true;
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", useToken);
  $("invite").addEventListener("submit", invite);
  $("forget").addEventListener("click", () => forget(""));
  if (token()) showApp(); else forget("");
});
