// CSMS dashboard: vanilla JS over the read API (fetch + EventSource), no build step.
"use strict";
const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const auth = {
  get token() { return sessionStorage.getItem("csms.access"); },
  save(t) {
    sessionStorage.setItem("csms.access", t.access_token);
    sessionStorage.setItem("csms.refresh", t.refresh_token);
    sessionStorage.setItem("csms.user", `${t.username} (${t.role})`);
  },
  clear() { sessionStorage.clear(); },
};
let feed = null;
const liveHandlers = new Set();

async function api(path, opts = {}, retry = true) {
  const headers = Object.assign({Authorization: `Bearer ${auth.token}`}, opts.headers || {});
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  const res = await fetch(path, Object.assign({}, opts, {headers}));
  if (res.status === 401 && retry && await refresh()) return api(path, opts, false);
  if (res.status === 401) { logout(); throw new Error("logged out"); }
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok && res.status !== 202) throw Object.assign(new Error(body?.error?.message || res.statusText), {status: res.status, body});
  return {status: res.status, body};
}

async function refresh() {
  const token = sessionStorage.getItem("csms.refresh");
  if (!token) return false;
  const res = await fetch("/api/v1/auth/refresh", {method: "POST", body: new URLSearchParams({refresh_token: token})});
  if (!res.ok) return false;
  auth.save(await res.json());
  connectFeed();
  return true;
}

function logout() {
  auth.clear();
  if (feed) feed.close();
  location.hash = "";
  location.reload();
}

function connectFeed() {
  if (feed) feed.close();
  feed = new EventSource(`/api/v1/live?access_token=${encodeURIComponent(auth.token)}`);
  feed.onopen = () => { $("#live-state").textContent = "live"; };
  feed.onerror = () => { $("#live-state").textContent = "reconnecting…"; };
  for (const kind of ["connector_status", "station_connectivity", "station_status", "session", "alert"]) {
    feed.addEventListener(kind, (e) => {
      const event = JSON.parse(e.data);
      for (const handler of liveHandlers) handler(event);
    });
  }
}

function table(columns, rows, rowAttrs = () => "") {
  const head = columns.map((c) => `<th>${esc(c.title)}</th>`).join("");
  const body = rows.map((r) => `<tr ${rowAttrs(r)}>${columns.map((c) => `<td ${c.attrs ? c.attrs(r) : ""}>${c.html ? c.html(r) : esc(r[c.key])}</td>`).join("")}</tr>`).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body || `<tr><td colspan="${columns.length}" class="muted">nothing yet</td></tr>`}</tbody></table>`;
}

function map(stations) {
  const pts = stations.filter((s) => s.latitude != null && s.longitude != null);
  if (!pts.length) return `<p class="muted">No coordinates to map.</p>`;
  const lats = pts.map((s) => +s.latitude), lons = pts.map((s) => +s.longitude);
  const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const x = (lon) => 20 + 560 * (maxLon === minLon ? 0.5 : (lon - minLon) / (maxLon - minLon));
  const y = (lat) => 20 + 280 * (maxLat === minLat ? 0.5 : (maxLat - lat) / (maxLat - minLat));
  const dots = pts.map((s) => `<a href="#/station/${encodeURIComponent(s.id)}"><circle data-dot="${esc(s.id)}" cx="${x(+s.longitude)}" cy="${y(+s.latitude)}" r="6" fill="${s.online ? "#137333" : "#8a93a3"}"><title>${esc(s.id)} ${esc(s.name)}</title></circle></a>`).join("");
  return `<svg class="map" viewBox="0 0 600 320" role="img" aria-label="station map">${dots}</svg>`;
}

const views = {
  async fleet(main) {
    const {body} = await api("/api/v1/stations?limit=200");
    const status = {};
    main.innerHTML = `<div class="grid"><div class="card"><h2>Fleet</h2>${table([
      {title: "Station", html: (s) => `<a href="#/station/${encodeURIComponent(s.id)}">${esc(s.id)}</a>`},
      {title: "Name", key: "name"}, {title: "Registration", key: "status"},
      {title: "Online", html: (s) => (s.online ? "yes" : "no"), attrs: () => `data-col="online"`},
      {title: "Available connectors", key: "connectors_available"},
      {title: "Live connector status", html: () => "–", attrs: () => `data-col="live"`},
      {title: "OCPP", key: "ocpp_version"},
    ], body.items, (s) => `data-station="${esc(s.id)}"`)}</div><div class="card"><h2>Map</h2>${map(body.items)}</div></div>`;
    return (event) => {
      const row = document.querySelector(`tr[data-station="${CSS.escape(event.data.station_id || "")}"]`);
      if (!row) return;
      if (event.kind === "connector_status") {
        const d = event.data;
        status[d.station_id] = Object.assign(status[d.station_id] || {}, {[`${d.evse_id}/${d.connector_id}`]: d.status});
        $('[data-col="live"]', row).innerHTML = Object.entries(status[d.station_id]).map(([k, v]) => `<span class="s-${esc(v)}">${esc(k)} ${esc(v)}</span>`).join(" ");
      } else if (event.kind === "station_connectivity") {
        const online = event.schema.endsWith("StationWentOnline");
        $('[data-col="online"]', row).textContent = online ? "yes" : "no";
        const dot = document.querySelector(`circle[data-dot="${CSS.escape(event.data.station_id)}"]`);
        if (dot) dot.setAttribute("fill", online ? "#137333" : "#8a93a3");
      }
    };
  },

  async station(main, id) {
    const path = `/api/v1/stations/${encodeURIComponent(id)}`;
    const [{body: s}, history, config] = await Promise.all([api(path), api(`${path}/connector-history?limit=20`),
      api(`${path}/configuration`).catch(() => ({body: {items: []}}))]);
    const connectors = s.evses.flatMap((e) => e.connectors);
    main.innerHTML = `<div class="card"><h2>${esc(s.id)} ${esc(s.name)}</h2>
      <p>${esc(s.status)} · ${s.online ? "online" : "offline"} · ${esc(s.ocpp_version || "version unknown")} · ${esc(s.vendor)} ${esc(s.model)} · firmware ${esc(s.firmware_version)}</p>
      ${table([{title: "EVSE", key: "evse_id"}, {title: "Connector", key: "connector_id"}, {title: "Type", key: "connector_type"},
        {title: "Status", html: (c) => `<span class="s-${esc(c.status)}">${esc(c.status)}</span>`, attrs: (c) => `data-connector="${c.evse_id}/${c.connector_id}"`}], connectors)}</div>
      <div class="card"><h3>Send a command</h3><form id="command">
        <label>Action <input name="action" list="actions" required value="RemoteStopTransaction"></label>
        <datalist id="actions">${["RemoteStartTransaction", "RemoteStopTransaction", "RequestStartTransaction", "RequestStopTransaction", "Reset", "UnlockConnector", "ChangeAvailability", "GetConfiguration", "ChangeConfiguration", "GetVariables", "SetVariables", "TriggerMessage", "UpdateFirmware", "GetDiagnostics", "GetLog", "SendLocalList", "ReserveNow", "CancelReservation", "SetChargingProfile", "ClearChargingProfile"].map((a) => `<option value="${a}">`).join("")}</datalist>
        <label>Payload (JSON) <textarea name="payload">{"transactionId": 1}</textarea></label>
        <button type="submit">Send</button></form><pre id="outcome" aria-live="polite"></pre></div>
      <div class="card"><h3>Status history</h3>${table([{title: "At", key: "at"}, {title: "Connector", html: (h) => `${h.evse_id}/${h.connector_id}`}, {title: "Status", key: "status"}, {title: "Error", key: "error_code"}], history.body.items)}</div>
      <div class="card"><h3>Configuration</h3>${table([{title: "Key", key: "key"}, {title: "Value", key: "value"}, {title: "Read-only", key: "readonly"}], config.body.items)}</div>`;
    $("#command").addEventListener("submit", async (e) => {
      e.preventDefault();
      const form = new FormData(e.target), out = $("#outcome");
      out.textContent = "sending…";
      try {
        const res = await api(`${path}/commands/${encodeURIComponent(form.get("action"))}`, {method: "POST", json: JSON.parse(form.get("payload") || "{}")});
        out.textContent = res.status === 202 ? `pending (${res.body.command_id})…` : JSON.stringify(res.body, null, 1);
        if (res.status === 202) pollCommand(res.body.command_id, out);
      } catch (err) { out.textContent = `error: ${err.message}`; }
    });
    return (event) => {
      if (event.kind !== "connector_status" || event.data.station_id !== id) return;
      const cell = document.querySelector(`[data-connector="${event.data.evse_id}/${event.data.connector_id}"]`);
      if (cell) cell.innerHTML = `<span class="s-${esc(event.data.status)}">${esc(event.data.status)}</span>`;
    };
  },

  async sessions(main) {
    const {body} = await api("/api/v1/sessions?limit=100");
    main.innerHTML = `<div class="card"><h2>Sessions</h2>${table([{title: "Session", key: "session_id"}, {title: "Station", key: "station_id"},
      {title: "Driver", key: "driver_id"}, {title: "Status", key: "status", attrs: () => `data-col="status"`}, {title: "Started", key: "started_at"},
      {title: "Energy (Wh)", key: "energy_wh", attrs: () => `data-col="energy"`},
      {title: "Cost", html: (s) => `${esc(s.total_incl_vat ?? s.running_total ?? "")} ${esc(s.currency)}`, attrs: () => `data-col="cost"`}],
      body.items, (s) => `data-session="${esc(s.session_id)}"`)}</div>`;
    return (event) => {
      if (event.kind !== "session") return;
      const row = document.querySelector(`tr[data-session="${CSS.escape(event.data.session_id)}"]`);
      if (!row) return;
      $('[data-col="status"]', row).textContent = event.data.status;
      $('[data-col="energy"]', row).textContent = event.data.energy_wh;
      $('[data-col="cost"]', row).textContent = `${event.data.total_incl_vat ?? ""} ${event.data.currency ?? ""}`;
    };
  },

  async tokens(main) {
    const [{body: tokens}, drivers] = await Promise.all([api("/api/v1/tokens?limit=200"), api("/api/v1/drivers?limit=200").catch(() => ({body: {items: []}}))]);
    main.innerHTML = `<div class="card"><h2>Tokens</h2>${table([{title: "Token", key: "token_key"}, {title: "Driver", key: "driver_id"},
      {title: "Status", key: "status", attrs: () => `data-col="status"`},
      {title: "", html: (t) => (t.status === "BLOCKED" ? "" : `<button data-block="${esc(t.token_key)}">Block</button>`)}],
      tokens.items, (t) => `data-token="${esc(t.token_key)}"`)}</div>
      <div class="card"><h2>Drivers</h2>${table([{title: "Driver", key: "id"}, {title: "Name", key: "name"}, {title: "Email", key: "email"}, {title: "Level", key: "membership_level"}, {title: "Status", key: "status"}], drivers.body.items)}</div>`;
    main.querySelectorAll("[data-block]").forEach((button) => button.addEventListener("click", async () => {
      const key = button.dataset.block, row = button.closest("tr");
      button.disabled = true;
      try {
        const res = await api(`/api/v1/tokens/${encodeURIComponent(key)}/block`, {method: "POST", json: {reason: "blocked from the dashboard"}});
        $('[data-col="status"]', row).textContent = res.status === 202 ? "blocking…" : "BLOCKED";
        button.remove();
      } catch (err) { button.disabled = false; alert(err.message); }
    }));
  },

  async tariffs(main) {
    const {body} = await api("/api/v1/tariffs?limit=200");
    main.innerHTML = `<div class="card"><h2>Tariffs</h2>${table([{title: "Tariff", key: "tariff_id"}, {title: "Version", key: "version"},
      {title: "Currency", html: (t) => esc(t.body?.currency)}, {title: "Prices", html: (t) => esc((t.body?.elements || []).flatMap((e) => e.price_components || []).map((p) => `${p.type} ${p.price}`).join(", "))}], body.items)}</div>`;
  },

  async invoices(main) {
    const {body} = await api("/api/v1/invoices?limit=200");
    main.innerHTML = `<div class="card"><h2>Invoices</h2>${table([{title: "Number", key: "number"}, {title: "Kind", key: "kind"}, {title: "Driver", key: "driver_id"},
      {title: "Total", html: (i) => `${esc(i.total_incl_vat)} ${esc(i.currency)}`}, {title: "Status", key: "status"},
      {title: "", html: (i) => `<button data-doc="${esc(i.invoice_id)}">Open</button>`}], body.items)}</div>`;
    main.querySelectorAll("[data-doc]").forEach((b) => b.addEventListener("click", async () => {
      const res = await fetch(`/api/v1/invoices/${encodeURIComponent(b.dataset.doc)}/document`, {headers: {Authorization: `Bearer ${auth.token}`}});
      const w = window.open("", "_blank");
      if (w) w.document.write(await res.text());
    }));
  },

  async alerts(main) {
    const {body} = await api("/api/v1/alerts?limit=200");
    main.innerHTML = `<div class="card"><h2>Alerts</h2>${table([{title: "Opened", key: "opened_at"}, {title: "Severity", key: "severity"}, {title: "Rule", key: "rule_type"},
      {title: "Subject", key: "subject"}, {title: "Message", key: "message"}, {title: "State", key: "state", attrs: () => `data-col="state"`},
      {title: "", html: (a) => (a.state === "OPEN" ? `<button data-ack="${esc(a.alert_id)}">Acknowledge</button>` : "")}], body.items)}</div>`;
    main.querySelectorAll("[data-ack]").forEach((b) => b.addEventListener("click", async () => {
      await api(`/api/v1/alerts/${encodeURIComponent(b.dataset.ack)}/acknowledge`, {method: "POST", json: {}});
      $('[data-col="state"]', b.closest("tr")).textContent = "ACKNOWLEDGED";
      b.remove();
    }));
    return (event) => { if (event.kind === "alert" && event.data.transition === "OPENED") route(); };
  },

  async reports(main) {
    main.innerHTML = `<div class="card"><h2>Reports</h2><form id="report">
      <select name="kind"><option>energy</option><option>utilisation</option><option>availability</option><option>revenue</option></select>
      <select name="group_by"><option>station</option><option>site</option><option>operator</option></select>
      <select name="period"><option>day</option><option>week</option><option>month</option></select>
      <button>Show</button> <button type="button" id="csv">CSV</button></form><div id="chart"></div></div>`;
    const metric = {energy: "energy_kwh", utilisation: "utilisation_pct", availability: "availability_pct", revenue: "sessions"};
    const query = () => new URLSearchParams(new FormData($("#report"))).toString();
    const draw = async () => {
      const form = new FormData($("#report")), kind = form.get("kind");
      const {body} = await api(`/api/v1/reports/${kind}?${query()}`);
      const rows = body.items, key = metric[kind], max = Math.max(1, ...rows.map((r) => +r[key] || 0));
      const bars = rows.map((r, i) => `<rect x="${10 + i * 22}" y="${210 - 200 * (+r[key] || 0) / max}" width="18" height="${200 * (+r[key] || 0) / max}" fill="#1a56db"><title>${esc(r.period)} ${esc(r.group)}: ${esc(r[key])}</title></rect>`).join("");
      $("#chart").innerHTML = `<svg viewBox="0 0 ${Math.max(300, 20 + rows.length * 22)} 220" class="map">${bars}</svg>${table([{title: "Period", key: "period"}, {title: "Group", key: "group"}, {title: key, key}], rows)}`;
    };
    $("#report").addEventListener("submit", (e) => { e.preventDefault(); draw(); });
    $("#csv").addEventListener("click", async () => {
      const kind = new FormData($("#report")).get("kind");
      const res = await fetch(`/api/v1/reports/${kind}?${query()}&format=csv`, {headers: {Authorization: `Bearer ${auth.token}`}});
      const a = Object.assign(document.createElement("a"), {href: URL.createObjectURL(await res.blob()), download: `${kind}.csv`});
      a.click();
    });
    await draw();
  },
};

async function pollCommand(id, out) {
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const {body} = await api(`/api/v1/commands/${id}`);
    if (body.status !== "PENDING") { out.textContent = JSON.stringify(body, null, 1); return; }
  }
}

async function route() {
  liveHandlers.clear();
  const main = $("#main");
  const [, name = "fleet", arg] = location.hash.split("/");
  const view = views[name] || views.fleet;
  main.innerHTML = `<p class="muted">loading…</p>`;
  try {
    const handler = await view(main, arg && decodeURIComponent(arg));
    if (handler) liveHandlers.add(handler);
  } catch (err) {
    main.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

function start() {
  $("#nav").hidden = false;
  $("#logout").hidden = false;
  $("#who").textContent = sessionStorage.getItem("csms.user") || "";
  $("#logout").onclick = logout;
  connectFeed();
  window.addEventListener("hashchange", route);
  route();
}

$("#login")?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await fetch("/api/v1/auth/token", {method: "POST", body: new URLSearchParams(new FormData(e.target))});
  if (!res.ok) { $("#login-error").textContent = "Wrong username or password."; return; }
  auth.save(await res.json());
  start();
});
if (auth.token) start();
