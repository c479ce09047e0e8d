// The dispatcher console: follows /v1/events live and draws the engine's state on a KayouMap.
// The token comes from the page address (?token=...) and is sent back only to this origin
// (fetch Authorization header, WebSocket query). window.kayouConsole is the page's API,
// used by the browser tests and the benchmark.
"use strict";

(function () {
  const token = new URLSearchParams(window.location.search).get("token") || "";
  const canvas = document.getElementById("map");
  const map = new KayouMap(canvas);
  const $ = (id) => document.getElementById(id);

  const state = {
    incidents: new Map(), // id -> incident JSON (open ones)
    order: [], // open incident ids, most urgent first (server order)
    respIndex: new Map(), // responder id -> row in map.resp
    clockSkew: 0, // server clock - browser clock, seconds
    selected: null,
    candidates: [], // ranked candidates of the selected incident
    candidateRoutes: [],
    assignedRoutes: new Map(), // JSON [rid, iid] -> {responder, incident, coords, at}
    connected: false,
    events: 0,
    positionMessages: 0, // position-change messages received on the event stream
    ready: false,
  };

  // --- server access -----------------------------------------------------------------

  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = Object.assign({ Authorization: "Bearer " + token }, opts.headers || {});
    const resp = await fetch(path, opts);
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const err = new Error(body.detail || resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  function serverNow() {
    return Date.now() / 1000 + state.clockSkew;
  }

  // --- formatting --------------------------------------------------------------------

  function fmtDuration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "–";
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min " + String(s % 60).padStart(2, "0") + " s";
    return Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
  }

  function fmtDistance(m) {
    if (m === null || m === undefined || !isFinite(m)) return "–";
    return m < 1000 ? Math.round(m) + " m" : (m / 1000).toFixed(1) + " km";
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  // --- map layers ------------------------------------------------------------------------

  function respPos(rid) {
    const i = state.respIndex.get(rid);
    if (i === undefined) return null;
    return [map.resp.lat[i], map.resp.lng[i]];
  }

  function setRespStatus(rid, status) {
    const i = state.respIndex.get(rid);
    if (i === undefined) return;
    map.resp.status[i] = Math.max(0, KayouMap.STATUS_CODES.indexOf(status));
  }

  function incidentState(inc) {
    if (inc.status === "on_scene") return "on_scene";
    return inc.assigned && inc.assigned.length ? "assigned" : "open";
  }

  function rebuildLayers() {
    const incs = [];
    const lines = [];
    for (const id of state.order) {
      const inc = state.incidents.get(id);
      if (!inc) continue;
      incs.push({ id, lat: inc.lat, lng: inc.lng, severity: inc.severity, state: incidentState(inc) });
      const to = [inc.lat, inc.lng];
      for (const o of inc.offers || []) {
        const from = respPos(o.responder_id);
        if (from) lines.push({ from, to, kind: "offer", responder: o.responder_id, incident: id });
      }
      for (const rid of inc.assigned || []) {
        const from = respPos(rid);
        if (from) lines.push({ from, to, kind: "assigned", responder: rid, incident: id });
      }
    }
    map.setIncidents(incs);
    map.setLines(lines);
    const routes = [];
    for (const [key, r] of state.assignedRoutes) {
      const inc = state.incidents.get(r.incident);
      const stage = inc && (inc.stages || {})[r.responder];
      if (stage !== "assigned" && stage !== "en_route") {
        state.assignedRoutes.delete(key);
        continue;
      }
      routes.push({ coords: r.coords, kind: "assigned" });
    }
    for (const r of state.candidateRoutes) routes.push({ coords: r.coords, kind: "candidate" });
    map.setRoutes(routes);
    map.setSelected(state.selected);
  }

  let frame = 0;
  function scheduleRedraw() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      rebuildLayers();
      map.redraw();
    });
  }

  // --- loading -----------------------------------------------------------------------

  // An available responder whose fix went stale cannot be ranked: shown as offline.
  function shownStatus(r) {
    return r.fresh || r.status !== "available" ? r.status : "offline";
  }

  // The server's position feed: only what changed since its previous message.
  function applyPositions(msg) {
    state.positionMessages++;
    let unknown = (msg.removed || []).length > 0;
    for (const r of msg.responders) {
      const i = state.respIndex.get(r.responder_id);
      if (i === undefined) {
        unknown = true; // a new responder: reload the whole fleet once
        continue;
      }
      map.resp.lat[i] = r.lat;
      map.resp.lng[i] = r.lng;
      map.resp.status[i] = Math.max(0, KayouMap.STATUS_CODES.indexOf(shownStatus(r)));
    }
    if (unknown) later("responders", loadResponders, 100);
    later("routes", refreshAssignedRoutes, 2000); // assigned trucks moved: their routes too
    scheduleRedraw();
  }

  async function loadResponders() {
    const body = await api("v1/responders");
    state.clockSkew = body.now - Date.now() / 1000;
    const rows = body.responders;
    const ids = new Array(rows.length);
    const lat = new Float64Array(rows.length);
    const lng = new Float64Array(rows.length);
    const status = new Array(rows.length);
    state.respIndex = new Map();
    rows.forEach((r, i) => {
      ids[i] = r.responder_id;
      lat[i] = r.lat;
      lng[i] = r.lng;
      status[i] = shownStatus(r);
      state.respIndex.set(r.responder_id, i);
    });
    map.setResponders({ ids, lat, lng, status });
    scheduleRedraw();
    return rows.length;
  }

  async function loadIncidents() {
    const body = await api("v1/incidents");
    state.incidents = new Map(body.incidents.map((i) => [i.incident_id, i]));
    state.order = body.incidents.map((i) => i.incident_id);
    if (state.selected && !state.incidents.has(state.selected)) closeDetail();
    renderList();
    renderDetail();
    refreshAssignedRoutes();
    scheduleRedraw();
  }

  async function refreshAssignedRoutes() {
    const jobs = [];
    for (const [id, inc] of state.incidents) {
      for (const rid of inc.assigned || []) {
        if (!["assigned", "en_route"].includes((inc.stages || {})[rid])) continue; // on scene
        const key = JSON.stringify([rid, id]);
        const from = respPos(rid);
        const cached = state.assignedRoutes.get(key);
        if (!from || (cached && Date.now() - cached.at < 10000)) continue;
        const entry = { responder: rid, incident: id, coords: cached ? cached.coords : [], at: Date.now() };
        state.assignedRoutes.set(key, entry);
        jobs.push(route(from, [inc.lat, inc.lng]).then((r) => {
          entry.coords = r.coords;
          entry.at = Date.now();
        }).catch(() => {}));
      }
    }
    await Promise.all(jobs);
    if (jobs.length) scheduleRedraw();
  }

  function route(from, to) {
    const q = new URLSearchParams({ from_lat: from[0], from_lng: from[1], to_lat: to[0], to_lng: to[1] });
    return api("v1/route?" + q.toString());
  }

  // Coalesce bursts of events into one refresh of each kind.
  const pending = { incidents: null, responders: null };
  function later(kind, fn, ms) {
    if (pending[kind]) return;
    pending[kind] = setTimeout(() => {
      pending[kind] = null;
      fn().catch(showError);
    }, ms);
  }

  const STATUS_AFTER = {
    offer_made: "offered",
    accepted: "assigned",
    departed: "en_route",
    arrived: "on_scene",
    declined: "available",
    offer_expired: "available",
    offer_withdrawn: "available",
  };

  function onEvent(ev) {
    state.events++;
    if (ev.responder_id && STATUS_AFTER[ev.kind]) setRespStatus(ev.responder_id, STATUS_AFTER[ev.kind]);
    if (["resolved", "cancelled", "unserved", "reopened"].includes(ev.kind)) {
      later("responders", loadResponders, 200);
    }
    if (ev.kind === "accepted" && state.selected === ev.incident_id) state.candidateRoutes = [];
    later("incidents", loadIncidents, 50);
    if (state.selected === ev.incident_id) later("candidates", loadCandidates, 150);
    scheduleRedraw();
  }

  let backoff = 500;
  function connect() {
    const url = new URL("v1/events", window.location.href); // relative: works under a mount
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = "?token=" + encodeURIComponent(token);
    const ws = new WebSocket(url.toString());
    ws.onopen = () => {
      state.connected = true;
      backoff = 500;
      $("conn").textContent = "live";
      $("conn").className = "conn up";
      // Catch up on what happened while disconnected; the feed sends changes from now on.
      loadIncidents().catch(showError);
      loadResponders().catch(showError);
    };
    ws.onmessage = (m) => {
      try {
        const msg = JSON.parse(m.data);
        if (msg.kind === "positions") applyPositions(msg);
        else onEvent(msg);
      } catch (e) {
        showError(e);
      }
    };
    ws.onclose = () => {
      state.connected = false;
      $("conn").textContent = "reconnecting";
      $("conn").className = "conn down";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  // --- side list ---------------------------------------------------------------------

  function offerTimers(inc) {
    const t = serverNow();
    return (inc.offers || []).map((o) => o.responder_id + " " + fmtDuration(o.expires_at - t)).join(", ");
  }

  function renderList() {
    const ul = $("incidents");
    const t = serverNow();
    ul.replaceChildren(...state.order.map((id) => {
      const inc = state.incidents.get(id);
      const timers = offerTimers(inc);
      const li = el("li", { "data-id": id, class: id === state.selected ? "selected" : "" },
        el("span", { class: "sev sev" + inc.severity }, inc.severity),
        el("strong", {}, id), " ", inc.kind, " ",
        el("span", { class: "muted" }, inc.status + " · age "),
        el("span", { class: "timer age" }, fmtDuration(t - inc.reported_at)),
        el("br"),
        el("span", { class: "muted timer offers" },
          timers ? "offers: " + timers : (inc.assigned.length ? "assigned: " + inc.assigned.join(", ") : "no offer")));
      li.addEventListener("click", () => select(id));
      return li;
    }));
    $("open-count").textContent = "(" + state.order.length + ")";
    const counts = {};
    for (let i = 0; i < map.resp.n; i++) {
      const s = KayouMap.STATUS_CODES[map.resp.status[i]];
      counts[s] = (counts[s] || 0) + 1;
    }
    $("summary").textContent = map.resp.n + " responders · " + (counts.available || 0) + " available · " +
      state.order.length + " open incidents";
  }

  // Ages and offer timers change every second: update their text in place (clicks keep
  // landing on the same elements).
  function tickTimers() {
    const t = serverNow();
    for (const li of $("incidents").children) {
      const inc = state.incidents.get(li.getAttribute("data-id"));
      if (!inc) continue;
      li.querySelector(".age").textContent = fmtDuration(t - inc.reported_at);
      const timers = offerTimers(inc);
      if (timers) li.querySelector(".offers").textContent = "offers: " + timers;
    }
    renderDetailHead();
  }

  // --- detail panel ------------------------------------------------------------------

  async function select(id) {
    state.selected = id;
    state.candidates = null; // ranking...
    state.candidateRoutes = [];
    $("detail").hidden = false;
    $("detail-msg").textContent = "";
    renderList();
    renderDetail();
    scheduleRedraw();
    await loadCandidates().catch(showError);
  }

  function closeDetail() {
    state.selected = null;
    state.candidates = [];
    state.candidateRoutes = [];
    $("detail").hidden = true;
    renderList();
    scheduleRedraw();
  }

  function needsToRank(inc) {
    const k = Math.min((inc.assigned || []).length, inc.needs.length - 1);
    return inc.needs[Math.max(0, k)] || [];
  }

  async function loadCandidates() {
    const id = state.selected;
    const inc = id && state.incidents.get(id);
    if (!inc) return;
    const q = new URLSearchParams({ lat: inc.lat, lng: inc.lng, k: 5 });
    const needs = needsToRank(inc);
    if (needs.length) q.set("needs", needs.join(","));
    const body = await api("v1/rank?" + q.toString());
    if (state.selected !== id) return;
    state.candidates = body.candidates;
    const routes = await Promise.all(body.candidates.map((c) => {
      const from = respPos(c.responder_id);
      return from ? route(from, [inc.lat, inc.lng]).catch(() => null) : null;
    }));
    if (state.selected !== id) return;
    state.candidateRoutes = routes.filter((r) => r && r.coords.length);
    renderDetail();
    scheduleRedraw();
  }

  function renderDetail() {
    renderDetailHead();
    renderCandidates();
  }

  function renderDetailHead() {
    const id = state.selected;
    const inc = id && state.incidents.get(id);
    if (!inc) return;
    const t = serverNow();
    $("detail-title").textContent = id + " · " + inc.kind;
    $("detail-meta").textContent = "severity " + inc.severity + " · " + inc.status + " · " +
      inc.units + " unit(s), missing " + inc.missing + " · units need " +
      inc.needs.map((n) => (n.length ? n.join("+") : "any")).join(", ") + " · age " + fmtDuration(t - inc.reported_at);
    const offers = (inc.offers || []).map((o) => el("div", { class: "timer" },
      "offer → " + o.responder_id + " (ETA " + fmtDuration(o.eta_s) + "), expires in " + fmtDuration(o.expires_at - t)));
    const assigned = (inc.assigned || []).map((rid) => el("div", {}, "assigned: " + rid + " (" + (inc.stages[rid] || "") + ")"));
    $("detail-offers").replaceChildren(...offers, ...assigned);
  }

  function renderCandidates() {
    const id = state.selected;
    const inc = id && state.incidents.get(id);
    if (!inc) return;
    const tbody = $("candidates").querySelector("tbody");
    if (!state.candidates || !state.candidates.length) {
      const needs = needsToRank(inc);
      const none = state.candidates ? "no AVAILABLE responder" +
        (needs.length ? " with " + needs.join("+") : "") : "ranking…";
      tbody.replaceChildren(el("tr", {}, el("td", { colSpan: 5, class: "muted" }, none)));
      return;
    }
    tbody.replaceChildren(...state.candidates.map((c, i) => {
      const button = el("button", { class: "offer", "data-responder": c.responder_id }, "Offer");
      button.addEventListener("click", () => offerTo(id, c.responder_id));
      return el("tr", { "data-responder": c.responder_id },
        el("td", {}, i + 1), el("td", {}, c.responder_id), el("td", {}, fmtDuration(c.eta_s)),
        el("td", {}, fmtDistance(c.distance_m)), el("td", {}, button));
    }));
  }

  async function offerTo(iid, rid) {
    try {
      await api("v1/incidents/" + encodeURIComponent(iid) + "/offers/" + encodeURIComponent(rid), { method: "POST" });
      $("detail-msg").textContent = "";
      setRespStatus(rid, "offered");
      await loadIncidents();
      await loadCandidates();
    } catch (e) {
      showError(e);
    }
  }

  async function cancelSelected() {
    const id = state.selected;
    if (!id) return;
    try {
      await api("v1/incidents/" + encodeURIComponent(id) + "/cancel", { method: "POST" });
      closeDetail();
      await loadIncidents();
      await loadResponders();
    } catch (e) {
      showError(e);
    }
  }

  function showError(e) {
    const msg = $("detail-msg");
    if (msg) msg.textContent = String(e && e.message ? e.message : e);
    if (window.console) window.console.warn(e);
  }

  // --- wiring ------------------------------------------------------------------------

  canvas.addEventListener("click", (ev) => {
    if (map.wasDrag && map.wasDrag()) return;
    const rect = canvas.getBoundingClientRect();
    const id = map.incidentAt(ev.clientX - rect.left, ev.clientY - rect.top);
    if (id) select(id);
  });
  $("cancel").addEventListener("click", cancelSelected);
  $("close-detail").addEventListener("click", closeDetail);
  window.addEventListener("resize", () => {
    if (map.net) map.fit(map.net.bounds);
    scheduleRedraw();
  });
  setInterval(tickTimers, 1000); // ages and offer timers
  setInterval(() => { // a safety net: the event stream carries position changes
    loadResponders().then(refreshAssignedRoutes).catch(showError);
  }, 30000);

  async function start() {
    const geom = await api("v1/network/geometry");
    map.setNetwork(geom);
    await loadResponders();
    await loadIncidents();
    connect();
    rebuildLayers();
    map.redraw();
    state.ready = true;
  }

  window.kayouConsole = {
    map,
    state,
    select,
    offerTo,
    reload: () => Promise.all([loadResponders(), loadIncidents()]),
    // A full redraw now (road layer included, pixels flushed); returns milliseconds.
    redraw: () => {
      const t0 = performance.now();
      rebuildLayers();
      map.netKey = "";
      map.redraw(true);
      return performance.now() - t0;
    },
    // Redraw only what moves (the road layer is cached, pixels flushed); milliseconds.
    redrawDynamic: () => {
      const t0 = performance.now();
      rebuildLayers();
      map.redraw(true);
      return performance.now() - t0;
    },
    // Where an incident is on screen (CSS pixels relative to the canvas).
    incidentPosition: (id) => {
      const inc = state.incidents.get(id);
      return inc ? map.cssPosition(inc.lat, inc.lng) : null;
    },
    drawn: () => map.drawn,
  };
  start().catch(showError);
})();
