// Replay a simulated day (the data inlined in replay.html) on a KayouMap with a time slider.
// window.kayouReplay is the page's API (seek, play, drawn), used by the browser test.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("replay-data").textContent);
  const $ = (id) => document.getElementById(id);
  const map = new KayouMap($("map"), { dotSize: 3 });
  map.setNetwork(data.network);

  function unpack(b64, Type) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Type(bytes.buffer);
  }

  const tr = data.tracks;
  const Q = tr.dtype === "uint16" ? Uint16Array : Uint32Array;
  const qlat = unpack(tr.lat, Q);
  const qlng = unpack(tr.lng, Q);
  const status = unpack(tr.status, Uint8Array);
  const times = tr.times_s;
  const n = tr.n;
  const [lat0, lng0] = data.network.origin;
  const scale = data.network.scale;
  const tscale = tr.scale || scale;
  const ids = Array.from({ length: n }, (_, i) => i);
  const lat = new Float64Array(n);
  const lng = new Float64Array(n);
  const st = new Uint8Array(n);
  map.resp = { n, ids, lat, lng, status: st };

  const inc = data.incidents;
  const nInc = inc.id.length;

  // Every status change, in time order (offers last seconds: frames alone would miss them).
  const ch = data.changes || { n: 0 };
  const chT = ch.n ? unpack(ch.t, Float32Array) : new Float32Array(0);
  const chRow = ch.n ? unpack(ch.row, Uint32Array) : new Uint32Array(0);
  const chSt = ch.n ? unpack(ch.status, Uint8Array) : new Uint8Array(0);
  const chInc = ch.n ? unpack(ch.incident, Int32Array) : new Int32Array(0);
  const incOf = new Int32Array(n);
  const LINKED = new Set(data.linked || []);

  // Coverage gaps: the probed motorway/trunk segments, coloured by the current hour's share.
  const cov = data.coverage;
  const covShare = cov ? unpack(cov.share, Uint8Array) : null;
  const covLines = [];
  if (cov) {
    for (let i = 0; i + 1 < cov.offsets.length; i++) {
      const pts = [];
      for (let k = cov.offsets[i]; k < cov.offsets[i + 1]; k++) {
        pts.push([lat0 + cov.coords[2 * k] / scale, lng0 + cov.coords[2 * k + 1] / scale]);
      }
      covLines.push({ seg: cov.segment[i], coords: pts });
    }
  } else {
    $("coverage-box").style.display = "none";
  }
  function gapColor(p) {
    // green (0 %) -> yellow (50 %) -> red (100 %)
    const r = p < 50 ? Math.round(255 * p / 50) : 255;
    const g = p < 50 ? 200 : Math.round(200 * (100 - p) / 50);
    return "rgba(" + r + "," + g + ",40,0.85)";
  }
  function coverageOverlay(hour) {
    if (!cov || !$("coverage").checked) return [];
    return covLines.map((l) => {
      const p = covShare[l.seg * 24 + hour];
      return { coords: l.coords, color: p === 255 ? "rgba(134,142,150,0.6)" : gapColor(p), width: 4 };
    });
  }
  const slider = $("slider");
  slider.max = String(Math.ceil(data.end_s));
  slider.step = "10";
  let t = 0;
  let playing = false;
  let last = null;

  function clock(s) {
    const total = Math.floor(s) + data.start_hour * 3600;
    const d = Math.floor(total / 86400);
    const h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    return (d ? "day " + (d + 1) + " " : "") + String(h).padStart(2, "0") + ":" + String(m).padStart(2, "0");
  }

  // The last frame at or before s (binary search).
  function frameAt(s) {
    let lo = 0;
    let hi = times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (times[mid] <= s) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  function seek(s) {
    t = Math.max(0, Math.min(s, data.end_s));
    const f = frameAt(t);
    const g = Math.min(f + 1, times.length - 1);
    const span = times[g] - times[f];
    const w = span > 0 ? Math.min(1, (t - times[f]) / span) : 0;
    const a = f * n;
    const b = g * n;
    for (let i = 0; i < n; i++) {
      // Interpolate between frames (30 s apart: trucks glide along their roads).
      lat[i] = lat0 + (qlat[a + i] * (1 - w) + qlat[b + i] * w) / tscale;
      lng[i] = lng0 + (qlng[a + i] * (1 - w) + qlng[b + i] * w) / tscale;
      st[i] = ch.n ? 0 : status[a + i];
      incOf[i] = -1;
    }
    // Status and the incident it concerns: the last change at or before t.
    for (let k = 0; k < ch.n && chT[k] <= t; k++) {
      st[chRow[k]] = chSt[k];
      incOf[chRow[k]] = chInc[k];
    }
    const lines = [];
    for (let i = 0; i < n; i++) {
      const name = tr.status_names[st[i]];
      const j = incOf[i];
      if (j < 0 || !LINKED.has(name)) continue;
      lines.push({ from: [lat[i], lng[i]], to: [inc.lat[j], inc.lng[j]],
        kind: name === "offered" ? "offer" : "assigned" });
    }
    map.setLines(lines);
    const hour = Math.floor((t / 3600 + data.start_hour) % 24);
    map.setOverlay(coverageOverlay(hour));
    const shown = [];
    let served = 0;
    let reported = 0;
    for (let k = 0; k < nInc; k++) {
      const rep = inc.reported_s[k];
      if (rep > t) break; // sorted by report time
      reported++;
      const closed = inc.closed_s[k];
      const arrival = inc.arrival_s[k];
      if (arrival !== null && arrival <= t) served++;
      if (closed !== null && closed <= t) continue;
      const accept = inc.accept_s[k];
      let state = "open";
      if (arrival !== null && arrival <= t) state = "on_scene";
      else if (accept !== null && accept <= t) state = "assigned";
      shown.push({ id: inc.id[k], lat: inc.lat[k], lng: inc.lng[k], severity: inc.severity[k],
        state, kind: data.kinds[inc.kind[k]], age: t - rep });
    }
    map.setIncidents(shown);
    slider.value = String(Math.round(t));
    $("clock").textContent = clock(t);
    const counts = new Array(tr.status_names.length).fill(0);
    for (let i = 0; i < n; i++) counts[st[i]]++;
    const stats = [
      ["time", clock(t)],
      ["requests so far", reported],
      ["reached so far", served],
      ["open now", shown.length],
    ];
    tr.status_names.forEach((name, i) => stats.push([name.replace("_", " "), counts[i]]));
    $("stats").replaceChildren(...stats.flatMap(([k, v]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = String(v);
      return [dt, dd];
    }));
    $("open-count").textContent = "(" + shown.length + ")";
    $("incidents").replaceChildren(...shown.slice(0, 60).map((x) => {
      const li = document.createElement("li");
      li.textContent = "sev " + x.severity + " · " + x.kind + " · " + x.state.replace("_", " ") +
        " · " + Math.round(x.age / 60) + " min";
      return li;
    }));
    map.redraw();
    return map.drawn;
  }

  function frame(ts) {
    if (!playing) return;
    if (last !== null) {
      const speed = Number($("speed").value);
      seek(t + ((ts - last) / 1000) * speed);
      if (t >= data.end_s) setPlaying(false);
    }
    last = ts;
    requestAnimationFrame(frame);
  }

  function setPlaying(on) {
    playing = on;
    last = null;
    $("play").textContent = on ? "❚❚ pause" : "▶ play";
    if (on) requestAnimationFrame(frame);
  }

  $("play").addEventListener("click", () => {
    if (t >= data.end_s) seek(0);
    setPlaying(!playing);
  });
  slider.addEventListener("input", () => seek(Number(slider.value)));
  $("coverage").addEventListener("change", () => seek(t));
  window.addEventListener("resize", () => {
    map.fit(data.network.bounds);
    seek(t);
  });

  window.kayouReplay = {
    data,
    map,
    seek,
    play: () => setPlaying(true),
    pause: () => setPlaying(false),
    time: () => t,
    drawn: () => map.drawn,
  };
  // Open on a recorded frame: the busiest one (most responders offered, assigned, en route
  // or on scene), so the first view shows the dispatch at work.
  seek(data.open_s !== undefined ? data.open_s : Math.min(data.end_s, 3600));
})();
