// Hive's operator dashboard: snapshots of the API every few seconds, and the event stream for
// what must show at once (restarts, exits, agents coming and going). No framework: the page is
// rebuilt from plain data, and charts are SVG drawn here.
"use strict";

const POLL_MS = 3000;
const HISTORY_MS = 5 * 60 * 1000;
const POOL_PAGE = 25;
const MEMORY_BUDGET = 80e6;
const COLORS = ["#0a66c2", "#1a7f37", "#b35900", "#8250df", "#c62828", "#6e6e73"];

const state = {
  token: sessionStorage.getItem("hive.token") || "",
  open: new Set(["root", "lifecycle"]),
  pools: new Map(), // pool name -> { cursors: [cursor of each page], page: index }
  supervisors: new Map(), // name -> snapshot
  restarts: new Map(), // supervisor name -> [[t, total restarts]]
  samples: [], // [{t, status}]
  sla: null,
  forecasts: null,
  sort: { key: "kind", dir: 1 },
  lastStatus: null,
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  if (state.token) h.Authorization = "Bearer " + state.token;
  return h;
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: headers(options.headers) });
  if (!res.ok) {
    let detail = res.status + " " + res.statusText;
    try {
      const problem = await res.json();
      detail = problem.detail || problem.title || detail;
    } catch (_) { /* not JSON */ }
    const error = new Error(detail);
    error.status = res.status;
    throw error;
  }
  return res.status === 204 ? null : res.json();
}

function showError(message) {
  const box = $("#error");
  box.hidden = !message;
  box.textContent = message || "";
}

function reasonText(reason) {
  if (!reason) return "";
  if (typeof reason === "string") return reason;
  return reason.detail ? `${reason.kind}: ${reason.detail}` : reason.kind;
}

function fmtBytes(n) {
  if (n === undefined || n === null) return "—";
  return (n / (1024 * 1024)).toFixed(1) + " MiB";
}

// A small size: bytes, or KiB.
function fmtSize(n) {
  return n < 1024 ? `${n} B` : (n / 1024).toFixed(1) + " KiB";
}

function fmtTime(ms) {
  return new Date(ms).toLocaleTimeString();
}

function fmtNum(n, digits = 0) {
  return n === undefined || n === null || Number.isNaN(n) ? "—" : Number(n).toFixed(digits);
}

// ---- snapshots ---------------------------------------------------------------------------

async function poll() {
  try {
    const [status, tree, sla] = await Promise.all([
      api("/api/v1/system/status"),
      api("/api/v1/supervision?children=50"),
      api("/api/v1/sla?window=1m"),
    ]);
    state.forecasts = await api("/api/v1/monitor/forecasts").catch(() => null);
    const now = Date.now();
    state.samples.push({ t: now, status });
    state.samples = state.samples.filter((s) => s.t >= now - HISTORY_MS);
    state.sla = sla;
    state.supervisors = new Map(tree.supervisors.map((s) => [s.name, s]));
    for (const s of tree.supervisors) recordRestarts(s.name, now, s.restarts);
    state.lastStatus = status;
    showError("");
    render();
  } catch (e) {
    showError(e.status === 401 || e.status === 403
      ? "The server wants a token: enter a viewer token above."
      : "Cannot read the server: " + e.message);
  }
}

function recordRestarts(name, t, total) {
  const series = state.restarts.get(name) || [];
  const last = series[series.length - 1];
  // A live event may have counted ahead of the snapshot: never go back.
  series.push([t, last ? Math.max(last[1], total) : total]);
  state.restarts.set(name, series.filter(([at]) => at >= t - HISTORY_MS));
}

function render() {
  renderSummary();
  renderTree();
  renderRestartCharts();
  renderActors();
  renderTasks();
  renderMemory();
}

function renderSummary() {
  const s = state.lastStatus;
  if (!s) return;
  $("#server").textContent = `v${s.version} · up ${s.uptime_s} s`;
  const rate = taskRate("succeeded");
  const cards = [
    ["agents", Object.values(s.agents).reduce((a, b) => a + b, 0),
      Object.entries(s.agents).map(([k, v]) => `${v} ${k}`).join(" · ")],
    ["tasks/s", fmtNum(rate, 1), `${s.tasks.succeeded} succeeded`],
    ["queued", Object.values(s.queue || {}).reduce((a, b) => a + b, 0), `${s.tasks.running} running`],
    ["failed / dead", `${s.tasks.failed} / ${s.tasks.dead}`, `${s.tasks.cancelled} cancelled`],
    ["RSS", fmtBytes(s.memory.rss_bytes), `budget ${fmtBytes(MEMORY_BUDGET)}`],
    ["restarts", [...state.supervisors.values()].reduce((a, b) => a + b.restarts, 0), "all supervisors"],
  ];
  $("#summary").replaceChildren(...cards.map(([label, value, sub]) =>
    el("div", { class: "card", "data-card": label }, el("span", {}, label), el("b", {}, value), el("span", {}, sub))));
}

// ---- supervision tree --------------------------------------------------------------------

function renderTree() {
  const roots = [...state.supervisors.values()].filter((s) => !s.parent || !state.supervisors.has(s.parent));
  $("#tree").replaceChildren(...roots.map(supervisorNode));
}

function supervisorNode(s) {
  const isPool = s.strategy === "simple_one_for_one";
  const counts = s.child_counts;
  const summary = el("summary", {},
    el("span", { class: "name" }, s.name),
    el("span", { class: "chip " + s.status }, s.status.replace("_", " ")),
    el("span", { class: "meta" },
      `${s.strategy} · intensity ${s.intensity.max_restarts} / ${s.intensity.period / 1000} s · `),
    el("span", { class: "meta restarts", "data-restarts": s.name }, `restarts ${s.restarts}`),
    el("span", { class: "meta" }, " · "),
    ...["running", "restarting", "stopped"].filter((k) => counts[k] > 0)
      .map((k) => el("span", { class: "chip " + k }, `${counts[k]} ${k}`)));
  const node = el("details", { "data-supervisor": s.name, open: state.open.has(s.name) }, summary);
  node.addEventListener("toggle", () => {
    // Also fired for a node created open: load a pool only when the viewer opens it.
    const was = state.open.has(s.name);
    if (node.open) state.open.add(s.name); else state.open.delete(s.name);
    if (node.open && !was && isPool) loadPool(s, node);
  });
  if (isPool) {
    if (node.open) loadPool(s, node);
    return node;
  }
  const list = el("ul");
  for (const c of s.children) {
    const sub = state.supervisors.get(c.id);
    if (sub) {
      list.append(el("li", {}, supervisorNode(sub)));
      continue;
    }
    list.append(el("li", { "data-child": c.id },
      el("span", { class: "chip " + c.status }, c.status), c.id,
      el("span", { class: "meta" }, `${c.restart} · restarts ${c.restarts}`),
      c.last_exit ? el("span", { class: "meta" }, "last exit " + reasonText(c.last_exit)) : null,
      c.next_attempt_ms ? el("span", { class: "meta" }, "next attempt " + fmtTime(c.next_attempt_ms)) : null));
  }
  if (s.children_total > s.children.length) {
    list.append(el("li", { class: "meta" }, `… and ${s.children_total - s.children.length} more`));
  }
  node.append(list);
  return node;
}

// A pool's children are its agents, read a page at a time: 10,000 agents are never drawn at once.
async function loadPool(s, node) {
  const role = s.name.replace(/^pool:/, "");
  const pager = state.pools.get(s.name) || { cursors: [null], page: 0 };
  state.pools.set(s.name, pager);
  const cursor = pager.cursors[pager.page];
  const query = new URLSearchParams({ role, limit: String(POOL_PAGE) });
  if (cursor) query.set("cursor", cursor);
  let page;
  try {
    page = await api("/api/v1/agents?" + query);
  } catch (e) {
    showError("Cannot list the pool: " + e.message);
    return;
  }
  pager.cursors[pager.page + 1] = page.next_cursor || undefined;
  const list = el("ul", {}, page.items.map((a) => el("li", { "data-child": a.id },
    el("span", { class: "chip " + a.status }, a.status), a.name,
    el("span", { class: "meta" }, `${a.id} · restarts ${a.restarts}`),
    a.current_task ? el("span", { class: "meta" }, "task " + a.current_task) : null,
    a.state_bytes ? el("span", { class: "meta", "data-state": "" }, "state " + fmtSize(a.state_bytes)) : null,
    a.process ? el("span", { class: "meta", "data-process": "" },
      `pid ${a.process.pid} · up ${fmtNum(a.process.uptime_s, 0)} s`) : null,
    a.stopped_reason ? el("span", { class: "meta" }, "stopped: " + a.stopped_reason) : null,
    el("button", { class: "small", type: "button", onclick: () => restartAgent(a.id) }, "restart"),
    el("button", { class: "small", type: "button", "data-details": "", onclick: (e) => agentDetails(a.id, e.target.parentNode) }, "details"))));
  const first = pager.page * POOL_PAGE + 1;
  const pagerBar = el("div", { class: "pager" },
    el("button", { type: "button", disabled: pager.page === 0, onclick: () => { pager.page -= 1; loadPool(s, node); } }, "‹ previous"),
    el("span", { class: "meta" }, `agents ${first}–${first + page.items.length - 1} of ${s.children_total}`),
    el("button", { type: "button", disabled: !page.next_cursor, onclick: () => { pager.page += 1; loadPool(s, node); } }, "next ›"));
  node.querySelectorAll(":scope > ul, :scope > .pager").forEach((n) => n.remove());
  node.append(pagerBar, list);
}

// One agent in full, on demand: its queue of addressed tasks, its state, its program's stderr.
async function agentDetails(id, item) {
  let a;
  try {
    a = await api(`/api/v1/agents/${encodeURIComponent(id)}`);
  } catch (e) {
    showError("Cannot read the agent: " + e.message);
    return;
  }
  const queue = a.queue || { unfinished: 0, queued: [] };
  const stderr = (a.process && a.process.stderr) || a.stderr || "";
  const state = JSON.stringify(a.state);
  const box = el("div", { class: "details", "data-agent-details": id },
    el("div", { class: "meta", "data-queue": "" },
      `addressed tasks: ${queue.unfinished} unfinished` +
      (queue.queued.length ? " · next " + queue.queued.slice(0, 5).join(", ") : "")),
    el("div", { class: "meta" }, `state (${fmtSize(a.state_bytes)}): ${state.length > 200 ? state.slice(0, 200) + "…" : state}`),
    stderr ? el("pre", { class: "stderr" }, stderr.split("\n").slice(-20).join("\n")) : null);
  item.querySelectorAll(":scope > .details").forEach((n) => n.remove());
  item.append(box);
}

async function restartAgent(id) {
  try {
    await api(`/api/v1/agents/${encodeURIComponent(id)}/restart`, { method: "POST" });
    showError("");
  } catch (e) {
    showError(e.status === 403 ? "Restarting an agent needs an operator token." : "Restart refused: " + e.message);
  }
}

async function cancelTask(event) {
  event.preventDefault();
  const id = $("#cancel-id").value.trim();
  if (!id) return;
  try {
    await api(`/api/v1/tasks/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    $("#cancel-id").value = "";
    showError("");
  } catch (e) {
    showError(e.status === 403 ? "Cancelling a task needs an operator token." : "Cancel refused: " + e.message);
  }
}

// ---- charts ------------------------------------------------------------------------------

// A line chart over time: `series` are {name, color, points: [[t, v]], dashed}; `bands` are
// {color, points: [[t, lower, upper]]}; `marks` are [t, v] points drawn as red dots.
function chart(title, series, { width = 420, height = 130, unit = "", limit, bands = [], marks = [], format = (v) => fmtNum(v, 1) } = {}) {
  const all = series.flatMap((s) => s.points).concat(bands.flatMap((b) => b.points.map(([t, , u]) => [t, u])));
  const now = Date.now();
  const tmin = Math.min(now - HISTORY_MS / 5, ...all.map(([t]) => t));
  const tmax = Math.max(now, ...all.map(([t]) => t));
  const vmax = Math.max(1e-9, limit ? limit * 1.1 : 0, ...all.map(([, v]) => v)) * 1.05;
  const pad = { l: 4, r: 4, t: 6, b: 14 };
  const x = (t) => pad.l + ((t - tmin) / Math.max(1, tmax - tmin)) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (v / vmax) * (height - pad.t - pad.b);
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  root.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: y(0), y2: y(0), stroke: "#d2d2d7" }));
  for (const b of bands) {
    if (!b.points.length) continue;
    const upper = b.points.map(([t, , u]) => `${x(t)},${y(u)}`);
    const lower = b.points.slice().reverse().map(([t, l]) => `${x(t)},${y(Math.max(0, l))}`);
    root.append(svg("polygon", { points: upper.concat(lower).join(" "), fill: b.color, opacity: 0.18 }));
  }
  if (limit) {
    root.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: y(limit), y2: y(limit),
      stroke: "#c62828", "stroke-dasharray": "4 3", "data-limit": limit }));
  }
  for (const s of series) {
    if (!s.points.length) continue;
    root.append(svg("polyline", { points: s.points.map(([t, v]) => `${x(t)},${y(v)}`).join(" "),
      fill: "none", stroke: s.color, "stroke-width": 1.6, "stroke-dasharray": s.dashed ? "3 3" : "none" }));
  }
  for (const [t, v] of marks) {
    root.append(svg("circle", { cx: x(t), cy: y(v), r: 3, fill: "#c62828", class: "anomaly" }));
  }
  const label = svg("text", { x: width - pad.r, y: height - 2, "text-anchor": "end", "font-size": 10, fill: "#6e6e73" });
  label.textContent = `max ${format(vmax / 1.05)}${unit}`;
  root.append(label);
  const legend = el("div", { class: "legend" }, series.map((s) => {
    const last = s.points[s.points.length - 1];
    const swatch = el("span", {}, "■ ");
    // Through the style object: the page's policy refuses inline style attributes.
    swatch.style.color = s.color;
    return el("span", {}, swatch, `${s.name} ${last ? format(last[1]) + unit : "—"}  `);
  }), limit ? `· limit ${format(limit)}${unit}` : "");
  return el("div", { class: "chart", "data-chart": title }, el("h4", {}, title), root, legend);
}

// Restarts inside the trailing intensity period at each sample: what the limit applies to.
function windowed(series, periodMs) {
  return series.map(([t, total]) => {
    const before = series.find(([at]) => at >= t - periodMs) || series[0];
    return [t, total - before[1]];
  });
}

function renderRestartCharts() {
  const charts = [...state.supervisors.values()].map((s, i) => chart(s.name,
    [{ name: "restarts", color: COLORS[i % COLORS.length], points: windowed(state.restarts.get(s.name) || [], s.intensity.period) }],
    { limit: s.intensity.max_restarts, format: (v) => fmtNum(v, 0), width: 320, height: 100 }));
  $("#restarts").replaceChildren(...charts);
}

// ---- actors and tasks --------------------------------------------------------------------

function sampleRate(pick) {
  const [a, b] = [state.samples[state.samples.length - 2], state.samples[state.samples.length - 1]];
  if (!a || !b) return null;
  return (pick(b.status) - pick(a.status)) / ((b.t - a.t) / 1000);
}

function taskRate(status) {
  return sampleRate((s) => s.tasks[status]);
}

function restartsOfKind(kind) {
  if (kind === "agent") {
    return [...state.supervisors.values()].filter((s) => s.name.startsWith("pool:")).reduce((a, s) => a + s.restarts, 0);
  }
  for (const s of state.supervisors.values()) {
    const child = s.children.find((c) => c.id === kind);
    if (child) return child.restarts;
  }
  return null;
}

function renderActors() {
  const s = state.lastStatus;
  if (!s) return;
  const rows = s.mailboxes.map((m) => ({
    kind: m.kind, actors: m.actors, depth: m.depth, capacity: m.capacity,
    fill: m.depth / Math.max(1, m.capacity * Math.max(1, m.actors)),
    rate: sampleRate((st) => (st.mailboxes.find((x) => x.kind === m.kind) || {}).handled || 0),
    refusals: m.refusals,
    // Time per message since the server started (an agent's message is a task's run).
    p50: (s.processing_ms || {})[m.kind]?.p50 ?? null,
    p99: (s.processing_ms || {})[m.kind]?.p99 ?? null,
    restarts: restartsOfKind(m.kind),
  }));
  const { key, dir } = state.sort;
  rows.sort((a, b) => (a[key] === b[key] ? 0 : (a[key] ?? -1) > (b[key] ?? -1) ? dir : -dir));
  $("#actors tbody").replaceChildren(...rows.map((r) => el("tr", { "data-kind": r.kind },
    el("td", {}, r.kind), el("td", {}, r.actors), el("td", {}, r.depth), el("td", {}, r.capacity),
    el("td", {}, fmtNum(r.fill * 100, 1) + " %"), el("td", {}, fmtNum(r.rate, 1)), el("td", {}, r.refusals),
    el("td", {}, fmtNum(r.p50, 3)), el("td", {}, fmtNum(r.p99, 3)), el("td", {}, r.restarts ?? "—"))));
  document.querySelectorAll("#actors th").forEach((th) => {
    th.className = th.dataset.key === key ? (dir > 0 ? "asc" : "desc") : "";
  });
}

function renderTasks() {
  const s = state.lastStatus;
  if (!s || !state.sla) return;
  $("#classes tbody").replaceChildren(...state.sla.classes.map((c) => el("tr", { "data-priority": c.priority },
    el("td", {}, c.priority), el("td", {}, (s.queue || {})[c.priority] ?? "—"), el("td", {}, c.tasks),
    el("td", {}, fmtNum(c.queue_wait_ms?.p50)), el("td", {}, fmtNum(c.queue_wait_ms?.p95)),
    el("td", {}, fmtNum(c.queue_wait_ms?.p99)), el("td", {}, c.target_ms),
    el("td", {}, c.within_target === null ? "—" : fmtNum(c.within_target * 100, 1) + " %"))));
  const rates = (status) => state.samples.slice(1).map((b, i) => {
    const a = state.samples[i];
    return [b.t, Math.max(0, (b.status.tasks[status] - a.status.tasks[status]) / ((b.t - a.t) / 1000))];
  });
  const failing = state.samples.slice(1).map((b, i) => {
    const a = state.samples[i];
    const n = (st) => st.tasks.failed + st.tasks.dead;
    return [b.t, Math.max(0, (n(b.status) - n(a.status)) / ((b.t - a.t) / 1000))];
  });
  const queued = ["critical", "high", "normal", "low"].map((p, i) => ({
    name: p, color: COLORS[i], points: state.samples.map((x) => [x.t, (x.status.queue || {})[p] || 0]),
  }));
  $("#throughput").replaceChildren(
    chart("throughput", [{ name: "succeeded/s", color: COLORS[1], points: rates("succeeded") },
      { name: "failed+dead/s", color: COLORS[4], points: failing }]),
    chart("queue depth", queued, { format: (v) => fmtNum(v, 0) }));
}

function renderMemory() {
  const mib = (n) => n / (1024 * 1024);
  const pts = (pick) => state.samples.map((x) => [x.t, mib(pick(x.status.memory) || 0)]);
  const f = (state.forecasts?.series || []).find((s) => s.name === "memory.rss");
  const bands = [];
  const series = [
    { name: "RSS", color: COLORS[0], points: pts((m) => m.rss_bytes) },
    { name: "allocated", color: COLORS[1], points: pts((m) => m.allocator?.allocated_bytes) },
    { name: "allocator resident", color: COLORS[3], points: pts((m) => m.allocator?.resident_bytes) },
  ];
  if (f && f.forecast) {
    const last = series[0].points[series[0].points.length - 1];
    const at = Date.now() + f.forecast.horizon_s * 1000;
    if (last) {
      series.push({ name: `forecast +${f.forecast.horizon_s} s`, color: COLORS[2], dashed: true,
        points: [last, [at, mib(f.forecast.value)]] });
      bands.push({ color: COLORS[2], points: [[last[0], last[1], last[1]], [at, mib(f.forecast.lower), mib(f.forecast.upper)]] });
    }
  }
  const marks = (state.forecasts?.anomalies || []).filter((a) => a.series === "memory.rss")
    .map((a) => [a.at_ms, mib(a.value)]);
  $("#memory").replaceChildren(chart("memory (MiB)", series,
    { limit: mib(f?.limit || MEMORY_BUDGET), bands, marks, width: 640, height: 160 }));
  const rows = (state.forecasts?.series || []).map((s) => el("tr", { "data-series": s.name },
    el("td", {}, s.name), el("td", {}, fmtNum(s.last, 1)),
    el("td", {}, s.forecast ? `${fmtNum(s.forecast.value, 1)} (${fmtNum(s.forecast.lower, 1)}–${fmtNum(s.forecast.upper, 1)}) in ${s.forecast.horizon_s} s` : "—"),
    el("td", {}, fmtNum(s.limit, 0)),
    el("td", {}, s.time_to_breach_s === null || s.time_to_breach_s === undefined ? "not within the horizon"
      : `${fmtNum(s.time_to_breach_s, 0)} s (confidence ${fmtNum((s.confidence || 0) * 100, 0)} %)`,
      // The monitor's warning (held forecast, not a series coming back down): what alerts go by.
      s.warning ? el("span", { class: "chip restarting", "data-warning": s.name }, "warning") : null)));
  $("#forecasts").replaceChildren(rows.length
    ? el("table", {}, el("thead", {}, el("tr", {}, ["series", "now", "forecast (80 % interval)", "limit", "time to breach"].map((h) => el("th", {}, h)))), el("tbody", {}, rows))
    : el("p", { class: "note" }, "No forecasts from the monitor yet."));
}

// ---- live events -------------------------------------------------------------------------

// fetch rather than EventSource: EventSource cannot send the Authorization header, and a token
// in the URL would end up in logs. Reconnects by itself after a second.
async function stream() {
  for (;;) {
    try {
      const res = await fetch("/api/v1/events?kinds=supervisor.,agent.,server.", { headers: headers({ Accept: "text/event-stream" }) });
      if (!res.ok) throw new Error(String(res.status));
      setLive(true);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          onMessage(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (_) { /* reconnect below */ }
    setLive(false);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function setLive(live) {
  const chip = $("#live");
  chip.className = "chip " + (live ? "running" : "offline");
  chip.textContent = live ? "live" : "reconnecting";
}

function onMessage(block) {
  const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
  if (!data) return;
  let event;
  try { event = JSON.parse(data); } catch (_) { return; }
  const d = event.data || {};
  if (event.kind === "supervisor.child_restarted") {
    const series = state.restarts.get(d.supervisor) || [];
    const total = (series.length ? series[series.length - 1][1] : 0) + 1;
    recordRestarts(d.supervisor, event.at_ms, total);
    const sup = state.supervisors.get(d.supervisor);
    if (sup) sup.restarts = Math.max(sup.restarts, total);
    document.querySelectorAll(`[data-restarts="${CSS.escape(d.supervisor)}"]`).forEach((n) => {
      n.textContent = `restarts ${sup ? sup.restarts : total}`;
      n.classList.remove("flash");
      void n.offsetWidth;
      n.classList.add("flash");
    });
    logExit(event.at_ms, `${d.supervisor} restarted ${d.child} after ${reasonText(d.reason)}`);
    // The cards, charts and actor table count restarts too: they follow at once, not at the
    // next snapshot.
    renderSummary();
    renderRestartCharts();
    renderActors();
  } else if (event.kind === "supervisor.gave_up") {
    logExit(event.at_ms, `${d.supervisor} gave up: ${reasonText(d.reason)}`);
  } else if (event.kind === "server.draining") {
    logExit(event.at_ms, "the server is shutting down");
  }
}

function logExit(at, text) {
  const log = $("#exits");
  log.prepend(el("li", { class: "flash" }, `${fmtTime(at)} ${text}`));
  while (log.children.length > 100) log.lastChild.remove();
}

// ---- start -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#token").value = state.token;
  $("#token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("#token").value.trim();
    sessionStorage.setItem("hive.token", state.token);
    poll();
  });
  $("#cancel-form").addEventListener("submit", cancelTask);
  document.querySelectorAll("#actors th").forEach((th) => th.addEventListener("click", () => {
    const key = th.dataset.key;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
    renderActors();
  }));
  // Seed the exit log with the latest reasons each supervisor kept.
  poll().then(() => {
    const recent = [...state.supervisors.values()].flatMap((s) => s.recent_exits.map((x) => ({ ...x, supervisor: s.name })));
    recent.sort((a, b) => a.at_ms - b.at_ms).slice(-30)
      .forEach((x) => logExit(x.at_ms, `${x.supervisor}: ${x.child} exited (${reasonText(x.reason)})`));
  });
  setInterval(poll, POLL_MS);
  stream();
});
