// fitsbak's page. Every address is relative, so it works at / and behind a
// proxy path such as /s3-backup/. Text from the server goes in as text, never as
// markup.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)) + " " + units[i];
}
const usd = (n) => "$" + Number(n || 0).toFixed(2);
const count = (n) => Number(n || 0).toLocaleString("en-US");
function when(t) {
  if (!t) return "—";
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}
function seconds(s) {
  if (s === null || s === undefined || !isFinite(s)) return "—";
  s = Math.round(s);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function say(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = kind || "";
  box.hidden = !text;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.error || body.detail)) || "HTTP " + status);
    this.status = status;
    this.body = body;
  }
}

async function api(path, options) {
  const init = Object.assign({ headers: {} }, options || {});
  if (init.json !== undefined) {
    init.method = init.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(init.json);
    delete init.json;
  }
  const res = await fetch(path, init);
  let body = null;
  try { body = await res.json(); } catch (_) { body = null; }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// --- views --------------------------------------------------------------

const views = ["dashboard", "sessions", "session", "restore", "tasks", "config"];
let current = null;

function route() {
  const hash = location.hash.replace(/^#/, "") || "dashboard";
  const [view, arg] = hash.split("/");
  const name = views.includes(view) ? view : "dashboard";
  for (const v of views) $("view-" + v).hidden = v !== name;
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.view === (name === "session" ? "sessions" : name));
  }
  current = name;
  const load = {
    dashboard: loadDashboard,
    sessions: loadSessions,
    session: () => loadSession(decodeURIComponent(arg || "")),
    restore: loadRestores,
    tasks: loadTasks,
    config: loadConfig,
  }[name];
  load().catch((e) => say(e.message));
}

// --- dashboard ----------------------------------------------------------

async function loadDashboard() {
  const [status, cats] = await Promise.all([api("api/status"), api("api/storage-categories")]);
  const f = status.fitsbak;
  $("target").textContent = f.target + (status.enabled ? "" : " (disabled)");
  const last = f.last_run;
  $("summary").replaceChildren(...[
    el("div", { class: "stat" }, el("div", { class: "big", id: "protected" },
      count(status.backed_up) + " / " + count(status.total_sessions)), el("div", { class: "muted" }, "sessions backed up")),
    el("div", { class: "stat" }, el("div", { class: "big" }, status.progress_percentage.toFixed(1) + " %"),
      el("div", { class: "muted" }, "of sessions")),
    el("div", { class: "stat" }, el("div", { class: "big" }, bytes(status.total_compressed_size)),
      el("div", { class: "muted" }, "in archives")),
    el("div", { class: "stat" }, el("div", { class: "big" }, count(f.archives_verified)),
      el("div", { class: "muted" }, "archives verified")),
    el("div", { class: "stat" }, el("div", { class: "big" }, last ? when(last.stat_date) : "never"),
      el("div", { class: "muted" }, "last run")),
    f.sessions_changed.length
      ? el("p", { class: "warn" }, f.sessions_changed.length + " session(s) changed since their backup: the next upload sends them again.")
      : null,
    f.uploads_in_flight
      ? el("p", { class: "warn" }, f.uploads_in_flight + " interrupted upload(s): the next upload resumes them.")
      : null,
  ].filter(Boolean));
  fill($("categories").tBodies[0], cats.categories.map((c) => el("tr", { "data-key": c.key },
    el("td", {}, c.name),
    el("td", { class: "num" }, count(c.local_files) + " · " + bytes(c.local_storage)),
    el("td", { class: "num" }, count(c.s3_files) + " · " + bytes(c.s3_storage)),
    el("td", { class: "num " + (c.local_not_in_s3 ? "warn" : "ok") }, count(c.local_not_in_s3)),
    el("td", {}, c.storage_class),
    el("td", { class: "num" }, usd(c.annual_cost)),
  )));
  drawCost(status.cost_panel);
  const classes = Object.entries(status.storage_classes);
  $("classes").textContent = classes.length
    ? "Archives per class: " + classes.map(([k, v]) => k + " " + v).join(", ")
    : "No archives yet.";
  const select = $("upload-year");
  select.replaceChildren(...status.years.map((y) => el("option", { value: y }, y)));
  loadDoctor();
}

function drawCost(panel) {
  const bars = [
    ["per month now", panel.monthly_usd_now],
    ["per month after lifecycle", panel.monthly_usd_after_lifecycle],
    ["first year", panel.first_year_usd],
  ];
  const max = Math.max(...bars.map((b) => b[1]), 0.01);
  const width = 320, row = 34;
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${row * bars.length}`, width: "100%", role: "img",
    "aria-label": "Storage cost" });
  bars.forEach(([label, value], i) => {
    const y = i * row;
    const w = Math.max(2, (value / max) * (width - 150));
    chart.append(svg("text", { x: 0, y: y + 13, class: "label" }, label));
    chart.append(svg("rect", { x: 0, y: y + 17, width: w, height: 12, rx: 3, fill: ["#6aa5ff", "#4cc38a", "#e8b84a"][i] }));
    chart.append(svg("text", { x: w + 6, y: y + 28 }, usd(value)));
  });
  $("cost-chart").replaceChildren(chart);
}

async function loadDoctor() {
  $("doctor-state").textContent = "checking the bucket…";
  try {
    const checks = await api("api/doctor");
    const bad = checks.filter((c) => c.status !== "ok");
    $("doctor-state").textContent = bad.length ? "" : "all " + checks.length + " checks passed";
    fill($("doctor"), bad.map((c) => el("li", { class: c.status },
      c.check + ": " + c.message + (c.fix ? " — " + c.fix : ""))));
  } catch (e) {
    $("doctor-state").textContent = "";
    fill($("doctor"), [el("li", { class: "fail" }, e.message)]);
  }
}

// --- actions and the task panel -----------------------------------------

const actions = {
  "upload-all": () => api("api/backup/raw-files", { json: {} }),
  "upload-year": () => api("api/backup/raw-files", { json: { year: Number($("upload-year").value) } }),
  "verify-quick": () => api("api/verify", { json: { deep: false } }),
  "verify-deep": () => api("api/verify", { json: { deep: true } }),
  notes: () => api("api/backup/session-notes", { json: {} }),
  processed: () => api("api/backup/processing-notes", { json: {} }),
  "backup-db": () => api("api/backup/database", { json: {} }),
};

async function start(call) {
  say("");
  try {
    const answer = await call();
    if (answer.task) showTask(answer.task);
    watch(answer.task_id);
  } catch (e) {
    say(e.message);
  }
}

let source = null;
let watching = null;

function watch(id) {
  if (source) source.close();
  watching = id;
  $("task").hidden = false;
  source = new EventSource("api/tasks/" + encodeURIComponent(id) + "/events");
  source.addEventListener("task", (ev) => {
    const t = JSON.parse(ev.data);
    showTask(t);
    if (!["running", "stopping"].includes(t.state)) {
      source.close();
      source = null;
      if (current && current !== "config") route();
    }
  });
  source.onerror = () => {
    // The server ended the stream, or went away; ask once more.
    if (source) { source.close(); source = null; }
    api("api/backup/task/" + encodeURIComponent(id)).then(showTask).catch(() => {});
  };
}

function showTask(t) {
  $("task").hidden = false;
  $("task").dataset.state = t.state;
  $("task-label").textContent = t.label;
  const state = $("task-state");
  state.textContent = t.state;
  state.className = "badge " + t.state;
  $("task-bar").style.width = t.progress.toFixed(1) + "%";
  $("task-bar").parentElement.setAttribute("aria-valuenow", t.progress.toFixed(0));
  const parts = [t.progress.toFixed(1) + " %"];
  if (t.bytes_total) parts.push(bytes(t.bytes_done) + " of " + bytes(t.bytes_total));
  if (t.items_total) parts.push((t.items_done + t.items_failed + t.items_skipped) + " of " + t.items_total + " items");
  if (t.rate_bytes_per_second) parts.push(bytes(t.rate_bytes_per_second) + "/s");
  if (t.eta_seconds !== null && t.eta_seconds !== undefined) parts.push("ETA " + seconds(t.eta_seconds));
  parts.push(seconds(t.elapsed_seconds) + " elapsed");
  $("task-numbers").textContent = parts.join(" · ");
  $("task-current").textContent = t.current ? "Now: " + t.current : (t.message || "");
  $("task-stop").hidden = t.state !== "running";
  $("task-close").hidden = ["running", "stopping"].includes(t.state);
  const err = $("task-error");
  err.hidden = !t.error;
  err.textContent = t.error || "";
  if (t.rows.length) {
    const hidden = t.rows_total - t.rows.length;
    $("task-result").replaceChildren(
      hidden > 0 ? el("p", { class: "muted" }, "the latest " + t.rows.length + " of " + t.rows_total + " rows") : "",
      el("div", { class: "scroll rows" }, el("table", { id: "task-rows" },
      el("thead", {}, el("tr", {}, el("th", {}, "Item"), el("th", {}, "Outcome"), el("th", { class: "num" }, "Bytes"), el("th", {}, "Detail"))),
      el("tbody", {}, t.rows.map((r) => el("tr", {},
        el("td", {}, r.item), el("td", { class: r.outcome === "failed" ? "fail" : r.outcome === "done" ? "ok" : "" }, r.outcome),
        el("td", { class: "num" }, r.bytes ? bytes(r.bytes) : ""), el("td", {}, r.detail || "")))))));
  } else {
    $("task-result").replaceChildren();
  }
}

$("task-close").addEventListener("click", () => {
  $("task").hidden = true;
  watching = null;
});

$("task-stop").addEventListener("click", () => {
  if (!watching) return;
  api("api/tasks/" + encodeURIComponent(watching) + "/stop", { method: "POST" })
    .then(showTask).catch((e) => say(e.message));
});

for (const button of document.querySelectorAll("[data-action]")) {
  button.addEventListener("click", () => start(actions[button.dataset.action]));
}

// --- sessions -----------------------------------------------------------

let sessions = [];
let shown = 200;

async function loadSessions() {
  sessions = await api("api/sessions?limit=0");
  const ys = [...new Set(sessions.map((s) => s.year))].sort((a, b) => b - a);
  const select = $("year");
  const keep = select.value;
  select.replaceChildren(el("option", { value: "" }, "All years"), ...ys.map((y) => el("option", { value: y }, y)));
  select.value = keep;
  shown = 200;
  drawSessions();
}

function drawSessions() {
  const words = $("search").value.toLowerCase().split(/\s+/).filter(Boolean);
  const year = $("year").value;
  const missing = $("only-missing").checked;
  const rows = sessions.filter((s) => {
    if (year && String(s.year) !== year) return false;
    if (missing && s.backed_up && !s.changed_since_backup) return false;
    const hay = [s.session_id, s.session_date, s.telescope, s.camera].join(" ").toLowerCase();
    return words.every((w) => hay.includes(w));
  });
  $("session-count").textContent = count(rows.length) + " of " + count(sessions.length) + " sessions";
  fill($("sessions").tBodies[0], rows.slice(0, shown).map((s) => el("tr", { "data-session": s.session_id },
    el("td", {}, el("a", { href: "#session/" + encodeURIComponent(s.session_id) }, s.session_id)),
    el("td", {}, s.session_date), el("td", {}, s.telescope || ""), el("td", {}, s.camera || ""),
    el("td", { class: "num" }, count(s.file_count)), el("td", { class: "num" }, bytes(s.size_bytes)),
    el("td", { class: s.backed_up ? (s.changed_since_backup ? "warn" : "yes") : "no" },
      s.backed_up ? (s.changed_since_backup ? "changed" : "yes") : "no"),
    el("td", { class: s.verified ? "yes" : "no" }, s.verified ? "yes" : "no"),
    el("td", {}, s.storage_class || ""),
  )));
  $("more").hidden = rows.length <= shown;
}

$("search").addEventListener("input", () => { shown = 200; drawSessions(); });
$("year").addEventListener("change", () => { shown = 200; drawSessions(); });
$("only-missing").addEventListener("change", () => { shown = 200; drawSessions(); });
$("more").addEventListener("click", () => { shown += 500; drawSessions(); });

// --- one session --------------------------------------------------------

let detail = null;

async function loadSession(id) {
  $("restore-box").hidden = true;
  $("detail-title").textContent = id;
  const d = await api("api/sessions/" + encodeURIComponent(id));
  detail = d;
  const s = d.session, a = d.archive;
  const facts = [
    ["Date", s.session_date], ["Telescope", s.telescope || "—"], ["Camera", s.camera || "—"],
    ["Files", count(s.file_count)], ["Size", bytes(s.size_bytes)],
    ["Backed up", s.backed_up ? "yes, " + when(s.uploaded_at) : "no"],
    ["Verified", s.verified ? "yes, " + when(s.last_verified_at) : "no"],
  ];
  if (a) {
    facts.push(["Key", a.key], ["Archive", bytes(a.archive_size_bytes)], ["Class", a.current_storage_class || "—"],
      ["ETag", a.etag || "—"], ["Restore", a.restore_status || "—"]);
  }
  $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  $("detail-verify").disabled = !a;
  $("detail-restore").disabled = !a;
  const members = d.members.length ? d.members.map((m) => el("tr", {},
    el("td", {}, m.path), el("td", { class: "num" }, bytes(m.size)), el("td", {}, m.frame_type || ""),
    el("td", {}, m.md5 || ""))) : d.files.map((f) => el("tr", {},
    el("td", {}, f.folder + "/" + f.file), el("td", {}, ""), el("td", {}, f.frame_type || ""), el("td", {}, f.md5sum || "")));
  fill($("members").tBodies[0], members);
  $("manifest").textContent = d.manifest ? JSON.stringify(d.manifest.manifest, null, 2)
    : (d.manifest_error || "No archive yet.");
  fill($("log").tBodies[0], d.log.map((l) => el("tr", {},
    el("td", {}, when(l.timestamp)), el("td", {}, l.operation), el("td", { class: l.status === "success" ? "ok" : "fail" }, l.status),
    el("td", { class: "num" }, l.bytes_transferred ? bytes(l.bytes_transferred) : ""),
    el("td", {}, l.error_message || l.notes || ""))));
}

$("detail-upload").addEventListener("click", () => start(() =>
  api("api/backup/session/" + encodeURIComponent(detail.session.session_id) + "?force=" + (detail.session.backed_up ? "true" : "false"), { method: "POST" })));
$("detail-verify").addEventListener("click", () => start(() =>
  api("api/verify", { json: { deep: true, session_id: detail.session.session_id } })));
$("detail-restore").addEventListener("click", () => estimate(detail.session.session_id).catch((e) => say(e.message)));

async function estimate(id) {
  const box = $("restore-box");
  box.hidden = false;
  $("restore-plan").replaceChildren(el("p", { class: "muted" }, "Asking the bucket…"));
  const e = await api("api/restore/estimate?session_id=" + encodeURIComponent(id));
  const plan = e.plan;
  if (!plan.archives.length) {
    $("restore-plan").replaceChildren(el("p", {}, "No restore needed: " +
      plan.not_needed.map(([s, why]) => s + " " + why).join("; ")));
    return;
  }
  const tier = el("select", { id: "restore-tier", "aria-label": "Tier" },
    plan.tiers.filter((t) => t.available).map((t) => el("option", { value: t.tier, selected: t.tier === e.default_tier }, t.tier)));
  const days = el("input", { id: "restore-days", type: "number", min: 1, value: e.default_days, "aria-label": "Days" });
  const table = el("table", { id: "tiers" },
    el("thead", {}, el("tr", {}, el("th", {}, "Tier"), el("th", { class: "num" }, "Retrieval"), el("th", { class: "num" }, "Download"), el("th", {}, "Wait"))),
    el("tbody", {}, plan.tiers.map((t) => el("tr", { class: t.available ? "" : "no" },
      el("td", {}, t.tier), el("td", { class: "num" }, t.available ? usd(t.cost_usd) : "—"),
      el("td", { class: "num" }, usd(plan.download_cost_usd)), el("td", {}, t.wait)))));
  const confirm = el("button", { type: "button", id: "restore-confirm", onclick: () => start(() =>
    api("api/restore/request", { json: { session_id: id, tier: tier.value, days: Number(days.value) } })) }, "Request restore");
  $("restore-plan").replaceChildren(
    el("p", {}, bytes(plan.bytes) + " in " + plan.archives.length + " archive(s) to bring back. Costs and waits:"),
    el("div", { class: "scroll" }, table),
    el("div", { class: "actions" }, el("label", {}, "Tier ", tier), el("label", {}, "Days ", days), confirm));
}

// --- restore status -----------------------------------------------------

async function loadRestores() {
  fill($("restores").tBodies[0], [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "Asking the bucket…"))]);
  const rows = await api("api/restore/status");
  fill($("restores").tBodies[0], rows.length ? rows.map((r) => el("tr", {},
    el("td", {}, r.session_id), el("td", {}, r.status), el("td", {}, r.storage_class || ""),
    el("td", {}, when(r.expires_at)))) : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No restores."))]);
}
$("restore-refresh").addEventListener("click", () => loadRestores().catch((e) => say(e.message)));

// --- tasks --------------------------------------------------------------

async function loadTasks() {
  const tasks = await api("api/tasks");
  fill($("tasks").tBodies[0], tasks.length ? tasks.map((t) => el("tr", {},
    el("td", {}, when(t.started_at)), el("td", {}, el("a", { href: "#tasks", onclick: () => { watch(t.task_id); } }, t.label)),
    el("td", {}, el("span", { class: "badge " + t.state }, t.state)),
    el("td", {}, t.error || t.message || ""))) : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No tasks yet."))]);
}

// --- config -------------------------------------------------------------

let fields = [];

async function loadConfig() {
  const c = await api("api/config");
  fields = c.fields;
  $("config-path").textContent = c.path;
  $("config-result").replaceChildren();
  const groups = new Map();
  for (const f of fields) {
    const section = f.key.includes(".") ? f.key.split(".")[0] : "general";
    if (!groups.has(section)) groups.set(section, []);
    groups.get(section).push(f);
  }
  const form = $("config-form");
  form.replaceChildren(...[...groups].map(([section, list]) => el("fieldset", {}, el("legend", {}, section),
    list.map((f) => {
      const id = "cfg-" + f.key.replace(/[^a-z0-9]/gi, "-");
      let input;
      if (f.kind === "boolean") input = el("input", { type: "checkbox", id, checked: f.value === true });
      else if (f.kind === "number") input = el("input", { type: "text", inputmode: "decimal", id, value: String(f.value) });
      else if (f.kind === "array") input = el("input", { type: "text", id, value: JSON.stringify(f.value) });
      else input = el("input", { type: "text", id, value: f.value === null ? "" : f.value, placeholder: f.value === null ? "null" : null });
      input.dataset.key = f.key;
      return el("div", { class: "field", "data-key": f.key },
        el("label", { for: id }, f.key), input,
        f.help ? el("div", { class: "help" }, f.help) : null,
        el("div", { class: "field-error", hidden: true }));
    }))));
  showKeyErrors(c.errors || []);
}

function fieldValue(f, input) {
  if (f.kind === "boolean") return input.checked;
  const text = input.value.trim();
  if (f.kind === "number") return text === "" ? null : (isFinite(Number(text)) ? Number(text) : text);
  if (f.kind === "array") { try { return JSON.parse(text); } catch (_) { return text; } }
  if (f.kind === "null") {
    if (text === "") return null;
    if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
    if (text === "true" || text === "false") return text === "true";
    return text;
  }
  return text;
}

function changes() {
  const out = {};
  for (const f of fields) {
    const input = document.querySelector(`#config-form input[data-key="${CSS.escape(f.key)}"]`);
    if (!input) continue;
    const v = fieldValue(f, input);
    if (JSON.stringify(v) !== JSON.stringify(f.value)) out[f.key] = v;
  }
  return out;
}

function showKeyErrors(errors) {
  for (const box of document.querySelectorAll(".field")) {
    box.classList.remove("invalid");
    const e = box.querySelector(".field-error");
    e.hidden = true;
    e.textContent = "";
  }
  const loose = [];
  for (const e of errors) {
    const box = document.querySelector(`.field[data-key="${CSS.escape(e.key)}"]`);
    if (!box) { loose.push("`" + e.key + "`: " + e.message); continue; }
    box.classList.add("invalid");
    const line = box.querySelector(".field-error");
    line.hidden = false;
    line.textContent = e.message;
  }
  if (loose.length) say(loose.join("\n"));
}

$("config-save").addEventListener("click", async () => {
  const c = changes();
  if (!Object.keys(c).length) { say("Nothing changed.", "info"); return; }
  try {
    const r = await api("api/config", { json: { changes: c } });
    say(r.message, "info");
    await loadConfig();
  } catch (e) {
    showKeyErrors((e.body && e.body.errors) || []);
    say(e.message);
  }
});

$("config-validate").addEventListener("click", async () => {
  const c = changes();
  try {
    const r = await api("api/config/validate", { json: Object.keys(c).length ? { changes: c } : {} });
    showKeyErrors(r.errors || []);
    $("config-result").replaceChildren(el("p", { class: r.valid ? "ok" : "fail" },
      r.valid ? r.message : r.error + (r.fix ? " — " + r.fix : "")));
  } catch (e) { say(e.message); }
});

$("config-toggle").addEventListener("click", async () => {
  try {
    const r = await api("api/toggle-enabled", { method: "POST" });
    say(r.message, "info");
    await loadConfig();
  } catch (e) { say(e.message); }
});

// --- start --------------------------------------------------------------

if (new URLSearchParams(location.search).has("token")) {
  // The cookie holds it now; the address should not.
  history.replaceState(null, "", location.pathname + location.hash);
}
window.addEventListener("hashchange", route);
route();
api("api/tasks").then((tasks) => {
  const running = tasks.find((t) => t.state === "running" || t.state === "stopping");
  if (running) watch(running.task_id);
}).catch(() => {});
