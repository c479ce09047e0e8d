// KayouMap: draw a road network, responders, incidents, offer lines and routes on a canvas.
// Shared by the dispatcher console and the simulation replay. No dependency, no network
// access: the roads come from the engine's own network (GET /v1/network/geometry or the
// data inlined in replay.html). The network is drawn once per view into an offscreen
// canvas; each redraw copies it and draws the moving things on top, batched by colour.
"use strict";

(function (global) {
  // Status names by code, and the road classes drawn wider: tables sent with the network
  // (GET /v1/network/geometry, or the replay's data), filled in by setNetwork.
  const STATUS_CODES = [];
  const STATUS_COLORS = {
    available: "#2e9e44",
    offered: "#f08c00",
    assigned: "#1f6feb",
    en_route: "#7048e8",
    on_scene: "#d6336c",
    offline: "#adb5bd",
  };
  const SEVERITY_COLORS = ["#fab005", "#fab005", "#fd7e14", "#f76707", "#e03131", "#a61e4d"];

  function now() {
    return global.performance ? global.performance.now() : Date.now();
  }

  class KayouMap {
    constructor(canvas, options) {
      this.canvas = canvas;
      this.ctx = canvas.getContext("2d");
      this.options = Object.assign({ dotSize: 4, padding: 16 }, options || {});
      this.net = null;
      this.view = null; // {lat0, lng0, kx, ppd (pixels per degree of latitude), cx, cy}
      this.netLayer = document.createElement("canvas");
      this.netKey = "";
      this.resp = { n: 0, ids: [], lat: new Float64Array(0), lng: new Float64Array(0),
        status: new Uint8Array(0) };
      this.incidents = [];
      this.lines = [];
      this.routes = [];
      this.overlay = [];
      this.selected = null;
      this.hidden = new Set(["offline"]);
      this.drawn = { responders: 0, incidents: 0, lines: 0, routes: 0, ms: 0 };
      this._installPanZoom();
    }

    // --- data -------------------------------------------------------------------------

    setNetwork(geom) {
      const n = geom.coords.length / 2;
      const lat = new Float64Array(n);
      const lng = new Float64Array(n);
      const s = geom.scale;
      for (let i = 0; i < n; i++) {
        lat[i] = geom.origin[0] + geom.coords[2 * i] / s;
        lng[i] = geom.origin[1] + geom.coords[2 * i + 1] / s;
      }
      this.net = { lat, lng, offsets: geom.offsets, cls: geom.cls, bounds: geom.bounds,
        major: new Set(geom.major) };
      STATUS_CODES.splice(0, STATUS_CODES.length, ...geom.statuses);
      this.fit(geom.bounds);
    }

    // responders: {ids: [...], lat: [...], lng: [...], status: [...codes or names]}
    setResponders(r) {
      const n = r.ids.length;
      const status = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const st = r.status[i];
        status[i] = typeof st === "number" ? st : Math.max(0, STATUS_CODES.indexOf(st));
      }
      this.resp = { n, ids: r.ids, lat: Float64Array.from(r.lat), lng: Float64Array.from(r.lng),
        status };
    }

    // incidents: [{id, lat, lng, severity, state: "open"|"assigned"|"on_scene"}]
    setIncidents(list) { this.incidents = list; }

    // lines: [{from: [lat, lng], to: [lat, lng], kind: "offer"|"assigned"}]
    setLines(list) { this.lines = list; }

    // routes: [{coords: [[lat, lng], ...], kind: "candidate"|"assigned"}]
    setRoutes(list) { this.routes = list; }

    // overlay: [{coords: [[lat, lng], ...], color: css colour, width: CSS pixels}], under routes
    setOverlay(list) { this.overlay = list; }

    setSelected(id) { this.selected = id; }

    // --- view -------------------------------------------------------------------------

    _size() {
      const dpr = global.devicePixelRatio || 1;
      const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
      const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
      if (this.canvas.width !== w || this.canvas.height !== h) {
        this.canvas.width = w;
        this.canvas.height = h;
      }
      return { w, h, dpr };
    }

    fit(bounds) {
      const { w, h, dpr } = this._size();
      const [s, west, n, e] = bounds;
      const lat0 = (s + n) / 2;
      const lng0 = (west + e) / 2;
      const kx = Math.cos((lat0 * Math.PI) / 180);
      const pad = this.options.padding * dpr;
      const spanY = Math.max(n - s, 1e-6);
      const spanX = Math.max((e - west) * kx, 1e-6);
      const ppd = Math.min((w - 2 * pad) / spanX, (h - 2 * pad) / spanY);
      this.view = { lat0, lng0, kx, ppd };
    }

    project(lat, lng) {
      const v = this.view;
      return [
        this.canvas.width / 2 + (lng - v.lng0) * v.kx * v.ppd,
        this.canvas.height / 2 - (lat - v.lat0) * v.ppd,
      ];
    }

    unproject(x, y) {
      const v = this.view;
      return [
        v.lat0 - (y - this.canvas.height / 2) / v.ppd,
        v.lng0 + (x - this.canvas.width / 2) / (v.kx * v.ppd),
      ];
    }

    _installPanZoom() {
      const c = this.canvas;
      let drag = null;
      c.addEventListener("wheel", (ev) => {
        if (!this.view) return;
        ev.preventDefault();
        const dpr = global.devicePixelRatio || 1;
        const x = ev.offsetX * dpr;
        const y = ev.offsetY * dpr;
        const [lat, lng] = this.unproject(x, y);
        const f = Math.exp(-ev.deltaY * 0.0015);
        this.view.ppd *= f;
        const [x2, y2] = this.project(lat, lng);
        this.view.lng0 += (x2 - x) / (this.view.kx * this.view.ppd);
        this.view.lat0 -= (y2 - y) / this.view.ppd;
        this.redraw();
      }, { passive: false });
      c.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, y: ev.clientY, moved: 0 }; });
      global.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
      global.addEventListener("mousemove", (ev) => {
        if (!drag || !this.view) return;
        const dpr = global.devicePixelRatio || 1;
        const dx = (ev.clientX - drag.x) * dpr;
        const dy = (ev.clientY - drag.y) * dpr;
        drag.moved += Math.abs(dx) + Math.abs(dy);
        drag.x = ev.clientX;
        drag.y = ev.clientY;
        this.view.lng0 -= dx / (this.view.kx * this.view.ppd);
        this.view.lat0 += dy / this.view.ppd;
        this.redraw();
      });
      this.wasDrag = () => drag !== null && drag.moved > 4;
    }

    // --- drawing ----------------------------------------------------------------------

    _drawNetwork(w, h, dpr) {
      const v = this.view;
      const key = [w, h, v.lat0, v.lng0, v.ppd].join(",");
      if (key === this.netKey) return;
      this.netKey = key;
      const layer = this.netLayer;
      if (layer.width !== w || layer.height !== h) {
        layer.width = w;
        layer.height = h;
      }
      const g = layer.getContext("2d");
      g.fillStyle = "#f8f9fa";
      g.fillRect(0, 0, w, h);
      if (!this.net) return;
      const { lat, lng, offsets, cls, major: wide } = this.net;
      const ax = v.kx * v.ppd;
      const bx = w / 2 - v.lng0 * ax;
      const by = h / 2 + v.lat0 * v.ppd;
      g.lineCap = "round";
      g.lineJoin = "round";
      for (const major of [false, true]) {
        g.strokeStyle = major ? "#ced4da" : "#dee2e6";
        g.lineWidth = (major ? 3 : 1.5) * dpr;
        g.beginPath();
        for (let i = 0; i + 1 < offsets.length; i++) {
          if (wide.has(cls[i]) !== major) continue;
          const a = offsets[i];
          const b = offsets[i + 1];
          g.moveTo(lng[a] * ax + bx, by - lat[a] * v.ppd);
          for (let k = a + 1; k < b; k++) g.lineTo(lng[k] * ax + bx, by - lat[k] * v.ppd);
        }
        g.stroke();
      }
    }

    // Draw everything; return the time it took in milliseconds. With flush, the time
    // includes rasterising (Chromium records canvas commands and paints them later):
    // reading one pixel back waits for the pixels.
    redraw(flush) {
      const t0 = now();
      const { w, h, dpr } = this._size();
      if (!this.view) {
        this.fit([0, 0, 1, 1]);
      }
      this._drawNetwork(w, h, dpr);
      const g = this.ctx;
      g.drawImage(this.netLayer, 0, 0);
      const v = this.view;
      const ax = v.kx * v.ppd;
      const bx = w / 2 - v.lng0 * ax;
      const by = h / 2 + v.lat0 * v.ppd;
      const P = (p) => [p[1] * ax + bx, by - p[0] * v.ppd];

      // Overlays (e.g. coverage gaps), then routes, under everything else.
      g.lineCap = "round";
      g.lineJoin = "round";
      for (const o of this.overlay) {
        if (!o.coords || o.coords.length < 2) continue;
        g.strokeStyle = o.color;
        g.lineWidth = (o.width || 3) * dpr;
        g.beginPath();
        let [x, y] = P(o.coords[0]);
        g.moveTo(x, y);
        for (let k = 1; k < o.coords.length; k++) {
          [x, y] = P(o.coords[k]);
          g.lineTo(x, y);
        }
        g.stroke();
      }
      for (const r of this.routes) {
        if (!r.coords || r.coords.length < 2) continue;
        g.strokeStyle = r.kind === "assigned" ? "rgba(31,111,235,0.75)" : "rgba(112,72,232,0.55)";
        g.lineWidth = (r.kind === "assigned" ? 4 : 3) * dpr;
        g.beginPath();
        let [x, y] = P(r.coords[0]);
        g.moveTo(x, y);
        for (let k = 1; k < r.coords.length; k++) {
          [x, y] = P(r.coords[k]);
          g.lineTo(x, y);
        }
        g.stroke();
      }

      // Offer lines (dashed) and assignments (solid).
      for (const kind of ["offer", "assigned"]) {
        g.strokeStyle = kind === "offer" ? STATUS_COLORS.offered : STATUS_COLORS.assigned;
        g.lineWidth = 2 * dpr;
        g.setLineDash(kind === "offer" ? [6 * dpr, 4 * dpr] : []);
        g.beginPath();
        for (const l of this.lines) {
          if (l.kind !== kind) continue;
          const [x1, y1] = P(l.from);
          const [x2, y2] = P(l.to);
          g.moveTo(x1, y1);
          g.lineTo(x2, y2);
        }
        g.stroke();
      }
      g.setLineDash([]);

      // Responders: one path per status colour.
      const r = this.resp;
      const size = this.options.dotSize * dpr;
      const half = size / 2;
      let drawnResp = 0;
      for (let code = 0; code < STATUS_CODES.length; code++) {
        const name = STATUS_CODES[code];
        if (this.hidden.has(name)) continue;
        g.fillStyle = STATUS_COLORS[name];
        g.beginPath();
        for (let i = 0; i < r.n; i++) {
          if (r.status[i] !== code) continue;
          const x = r.lng[i] * ax + bx;
          const y = by - r.lat[i] * v.ppd;
          if (x < -size || y < -size || x > w + size || y > h + size) continue;
          g.rect(x - half, y - half, size, size);
          drawnResp++;
        }
        g.fill();
      }

      // Incidents: circles by severity, a ring when assigned, a dark ring when selected.
      let drawnInc = 0;
      for (const inc of this.incidents) {
        const [x, y] = P([inc.lat, inc.lng]);
        const rad = (5 + (inc.severity || 3)) * dpr;
        g.beginPath();
        g.arc(x, y, rad, 0, 2 * Math.PI);
        g.fillStyle = SEVERITY_COLORS[inc.severity || 3] || SEVERITY_COLORS[3];
        g.fill();
        g.lineWidth = 2 * dpr;
        g.strokeStyle = inc.state === "open" ? "#ffffff" : STATUS_COLORS[inc.state] || "#1f6feb";
        g.stroke();
        if (inc.id === this.selected) {
          g.beginPath();
          g.arc(x, y, rad + 4 * dpr, 0, 2 * Math.PI);
          g.lineWidth = 3 * dpr;
          g.strokeStyle = "#212529";
          g.stroke();
        }
        drawnInc++;
      }
      if (flush) g.getImageData(0, 0, 1, 1);
      const ms = now() - t0;
      this.drawn = { responders: drawnResp, incidents: drawnInc, lines: this.lines.length,
        routes: this.routes.length, ms };
      return ms;
    }

    // The incident under a point of the canvas (CSS pixels), or null.
    incidentAt(cssX, cssY) {
      if (!this.view) return null;
      const dpr = global.devicePixelRatio || 1;
      const x = cssX * dpr;
      const y = cssY * dpr;
      let best = null;
      let bestD = Infinity;
      for (const inc of this.incidents) {
        const [ix, iy] = this.project(inc.lat, inc.lng);
        const d = Math.hypot(ix - x, iy - y);
        const reach = (9 + (inc.severity || 3)) * dpr;
        if (d <= reach && d < bestD) {
          best = inc.id;
          bestD = d;
        }
      }
      return best;
    }

    // Canvas position (CSS pixels) of a point: lets tests click an incident.
    cssPosition(lat, lng) {
      const dpr = global.devicePixelRatio || 1;
      const [x, y] = this.project(lat, lng);
      return [x / dpr, y / dpr];
    }
  }

  KayouMap.STATUS_CODES = STATUS_CODES;
  KayouMap.STATUS_COLORS = STATUS_COLORS;
  KayouMap.SEVERITY_COLORS = SEVERITY_COLORS;
  global.KayouMap = KayouMap;
})(window);
