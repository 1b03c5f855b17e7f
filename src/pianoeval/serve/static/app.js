// pianoeval page: no framework, no build step, no network beyond this server.
//
// Reads a Rating as POST /v1/evaluate returns it (GET /v1/jobs/{id} -> result):
//   scores:  [{name, value, low, high, interval_low, interval_high, interval_level}]  (drawn always)
//   windows: [{start_sec, end_sec, scores: [{name, value, interval_low, interval_high}]}]
//            (optional: the timeline is drawn only when present and non-empty)
//   bars:    [{bar, start_sec, end_sec, standout: [str], notes..., any other fields}]
//            (optional: the per-bar table is drawn only when present and non-empty; a bar
//            whose standout list is non-empty is highlighted)
//   advice:  [{text, start_sec, end_sec, bars?}]  (optional: a list, each item seeks the player)
//   summary: [{label, text}], warnings: [str], notes: [str], caution: str|null   (optional)
// The HTML report link (GET /v1/jobs/{id}/report of the job just rated) is offered only when
// GET /v1/rater says features.html_report.
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const SCALE_LO = 1 / 7;
  const SCALE_HI = 1;
  const POLL_MS = 300;

  const $ = (id) => document.getElementById(id);
  const state = { file: null, info: null, rating: null, recorder: null, audioUrl: null, jobId: null };

  // ---------------------------------------------------------------- helpers
  function svg(tag, attrs, text) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    return el;
  }
  function fmt(x, digits) {
    return typeof x === "number" && isFinite(x) ? x.toFixed(digits === undefined ? 3 : digits) : "–";
  }
  function clamp01(v) {
    return Math.max(0, Math.min(1, (v - SCALE_LO) / (SCALE_HI - SCALE_LO)));
  }
  function isAudioName(name) {
    return /\.(wav|flac|ogg|mp3)$/i.test(name || "");
  }
  function showError(message) {
    const el = $("error");
    el.textContent = message;
    el.hidden = !message;
  }
  function setStatus(text) { $("status").textContent = text; }

  // ---------------------------------------------------------------- rater info
  async function loadInfo() {
    try {
      const r = await fetch("/v1/rater");
      if (!r.ok) return;
      state.info = await r.json();
      const ids = state.info.model_ids || {};
      $("rater-line").textContent =
        `Rates a piano performance (MIDI or a recording) on ${state.info.dimensions.length} ` +
        `${state.info.taxonomy} dimensions with ${ids.midi}` + (ids.audio ? ` and ${ids.audio} (recordings).` : ".");
      const lim = state.info.limits;
      $("limits").textContent =
        `Accepted: ${lim.allowed_suffixes.join(", ")}; at most ${(lim.max_upload_bytes / 1e6).toFixed(1)} MB ` +
        `and ${Math.round(lim.max_duration_sec)} s.`;
    } catch (e) {
      // the page still works without it
    }
  }

  // ---------------------------------------------------------------- choosing a file
  function choose(file) {
    state.file = file;
    $("file-name").textContent = file ? `${file.name} (${file.size < 1000 ? `${file.size} bytes` : `${(file.size / 1000).toFixed(0)} kB`})` : "No file chosen.";
    $("rate").disabled = !file;
    showError("");
  }
  function setupDrop() {
    const drop = $("drop");
    $("file").addEventListener("change", (e) => choose(e.target.files[0] || null));
    drop.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); }
    });
    ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => {
      e.preventDefault(); drop.classList.add("over");
    }));
    ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => {
      e.preventDefault(); drop.classList.remove("over");
    }));
    drop.addEventListener("drop", (e) => {
      const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
      if (f) choose(f);
    });
  }

  // ---------------------------------------------------------------- recording (WAV in JS)
  function encodeWav(chunks, sampleRate) {
    let n = 0;
    for (const c of chunks) n += c.length;
    const buffer = new ArrayBuffer(44 + 2 * n);
    const v = new DataView(buffer);
    const str = (off, s) => { for (let i = 0; i < s.length; i++) v.setUint8(off + i, s.charCodeAt(i)); };
    str(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); str(8, "WAVE");
    str(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
    v.setUint32(24, sampleRate, true); v.setUint32(28, 2 * sampleRate, true);
    v.setUint16(32, 2, true); v.setUint16(34, 16, true);
    str(36, "data"); v.setUint32(40, 2 * n, true);
    let off = 44;
    for (const c of chunks) {
      for (let i = 0; i < c.length; i++, off += 2) {
        const s = Math.max(-1, Math.min(1, c[i]));
        v.setInt16(off, s < 0 ? s * 0x8000 : s * 0x7fff, true);
      }
    }
    return new Blob([buffer], { type: "audio/wav" });
  }

  async function startRecording() {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const source = ctx.createMediaStreamSource(stream);
    // ScriptProcessor: deprecated but everywhere, and needs no second file; it hands us
    // raw float samples, which we encode as 16-bit WAV ourselves.
    const proc = ctx.createScriptProcessor(4096, 1, 1);
    const mute = ctx.createGain();
    mute.gain.value = 0;
    const chunks = [];
    proc.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    source.connect(proc); proc.connect(mute); mute.connect(ctx.destination);
    const t0 = performance.now();
    const timer = setInterval(() => {
      $("rec-time").textContent = `recording… ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    }, 200);
    state.recorder = { stream, ctx, source, proc, chunks, timer };
  }

  async function stopRecording() {
    const r = state.recorder;
    state.recorder = null;
    clearInterval(r.timer);
    r.source.disconnect(); r.proc.disconnect();
    r.stream.getTracks().forEach((t) => t.stop());
    const sr = r.ctx.sampleRate;
    await r.ctx.close();
    const wav = encodeWav(r.chunks, sr);
    const seconds = r.chunks.reduce((a, c) => a + c.length, 0) / sr;
    $("rec-time").textContent = `recorded ${seconds.toFixed(1)} s`;
    choose(new File([wav], "recording.wav", { type: "audio/wav" }));
  }

  function setupRecord() {
    const btn = $("record");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      btn.disabled = true;
      btn.title = "This browser gives the page no microphone (it needs https or localhost).";
      return;
    }
    btn.addEventListener("click", async () => {
      try {
        if (state.recorder) {
          await stopRecording();
          btn.textContent = "Record from the microphone";
          btn.setAttribute("aria-pressed", "false");
        } else {
          showError("");
          await startRecording();
          btn.textContent = "Stop recording";
          btn.setAttribute("aria-pressed", "true");
        }
      } catch (e) {
        showError(`The microphone could not be used: ${e.message || e}`);
      }
    });
  }

  // ---------------------------------------------------------------- rating (a job, polled)
  async function rate() {
    if (!state.file) return;
    showError("");
    $("rate").disabled = true;
    const bar = $("progress");
    bar.hidden = false; bar.value = 0;
    setStatus("uploading…");
    const form = new FormData();
    form.append("file", state.file, state.file.name);
    const score = $("score").files[0];
    if (score) form.append("score", score, score.name);
    try {
      const r = await fetch("/v1/jobs", { method: "POST", body: form });
      const body = await r.json().catch(() => ({}));
      if (r.status !== 202) throw new Error(body.detail || `the server answered ${r.status}`);
      state.jobId = null;
      const job = await poll(body.id);
      state.jobId = body.id;
      if (job.status === "error") throw new Error((job.error && job.error.detail) || "the rating failed");
      bar.value = 1;
      setStatus("done");
      render(job.result);
    } catch (e) {
      setStatus("");
      showError(e.message || String(e));
    } finally {
      $("rate").disabled = !state.file;
      setTimeout(() => { bar.hidden = true; }, 400);
    }
  }

  async function poll(id) {
    for (;;) {
      const r = await fetch(`/v1/jobs/${encodeURIComponent(id)}`);
      const job = await r.json();
      if (!r.ok) throw new Error(job.detail || `the server answered ${r.status}`);
      $("progress").value = job.progress;
      setStatus(`${job.stage} (${Math.round(100 * job.progress)} %)`);
      if (job.status === "done" || job.status === "error") return job;
      await new Promise((res) => setTimeout(res, POLL_MS));
    }
  }

  // ---------------------------------------------------------------- drawing the rating
  function render(rating) {
    state.rating = rating;
    $("result").hidden = false;
    const inp = rating.input || {};
    const kind = inp.kind === "audio" ? "recording (transcribed)" : "MIDI";
    $("result-line").textContent =
      `${inp.path || state.file.name}: ${kind}, ${fmt(inp.duration_sec, 1)} s, ${inp.n_notes} notes; ` +
      `rated by ${rating.model_id}.`;
    const ul = $("warnings");
    ul.replaceChildren();
    const notes = Array.isArray(rating.notes) ? rating.notes.filter((n) => typeof n === "string") : [];
    for (const w of [...(rating.warnings || []), ...notes, ...(rating.caution ? [rating.caution] : [])]) {
      const li = document.createElement("li");
      li.textContent = w;
      ul.appendChild(li);
    }
    drawChart(rating.scores || []);
    setupPlayer();
    drawTimeline(rating.windows);
    drawAdvice(rating.advice);
    drawBars(rating.bars);
    drawSummary(rating.summary || []);
    setupDownloads(rating);
  }

  function drawChart(scores) {
    const W = 860, ROW = 30, TOP = 10, NAME_X = 4, LOW_X = 300, X0 = 310, X1 = 620, HIGH_X = 630, VAL_X = 856;
    const host = $("chart");
    const root = svg("svg", {
      viewBox: `0 0 ${W} ${TOP + ROW * scores.length + 10}`, width: "100%",
      id: "chart-svg", "aria-label": "Score of each dimension, between its two descriptors",
    });
    root.appendChild(svg("title", {}, "Score of each dimension"));
    const x = (v) => X0 + (X1 - X0) * clamp01(v);
    scores.forEach((s, i) => {
      const y = TOP + ROW * i + ROW / 2;
      const g = svg("g", { class: "dim-row", "data-dim": s.name });
      const interval = typeof s.interval_low === "number" && typeof s.interval_high === "number";
      const tip = `${s.name}: ${fmt(s.value)} (${s.low} – ${s.high})` +
        (interval ? `; ${Math.round(100 * (s.interval_level || 0))} % interval ${fmt(s.interval_low)}–${fmt(s.interval_high)}` : "");
      g.appendChild(svg("title", {}, tip));
      g.appendChild(svg("text", { x: NAME_X, y: y + 4 }, s.name));
      g.appendChild(svg("text", { x: LOW_X, y: y + 4, "text-anchor": "end", class: "descriptor" }, s.low || ""));
      g.appendChild(svg("line", { x1: X0, x2: X1, y1: y, y2: y, class: "track" }));
      if (interval) {
        const a = x(s.interval_low), b = x(s.interval_high);
        g.appendChild(svg("rect", { x: Math.min(a, b), y: y - 6, width: Math.max(2, Math.abs(b - a)), height: 12, rx: 3, class: "band" }));
      }
      g.appendChild(svg("circle", { cx: x(s.value), cy: y, r: 6, class: "dot" }));
      g.appendChild(svg("text", { x: HIGH_X, y: y + 4, class: "descriptor" }, s.high || ""));
      g.appendChild(svg("text", { x: VAL_X, y: y + 4, "text-anchor": "end", class: "dim-value" }, fmt(s.value)));
      root.appendChild(g);
    });
    host.replaceChildren(root);
  }

  function setupPlayer() {
    const player = $("player");
    if (state.audioUrl) URL.revokeObjectURL(state.audioUrl);
    state.audioUrl = null;
    if (state.file && isAudioName(state.file.name)) {
      state.audioUrl = URL.createObjectURL(state.file);
      player.src = state.audioUrl;
      player.hidden = false;
    } else {
      player.removeAttribute("src");
      player.hidden = true;
    }
  }

  function drawTimeline(windows) {
    const section = $("timeline-section");
    if (!Array.isArray(windows) || windows.length === 0) { section.hidden = true; return; }
    section.hidden = false;
    const select = $("timeline-dim");
    const names = (windows[0].scores || []).map((s) => s.name);
    const keep = select.value;
    select.replaceChildren(...names.map((n) => { const o = document.createElement("option"); o.value = n; o.textContent = n; return o; }));
    if (names.includes(keep)) select.value = keep;
    const draw = () => {
      const dim = select.value;
      const W = 860, H = 160, L = 110, R = 850, T = 10, B = 130;
      const end = Math.max(...windows.map((w) => w.end_sec || 0), 1e-6);
      const x = (t) => L + (R - L) * (t / end);
      const y = (v) => B - (B - T) * clamp01(v);
      const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", id: "timeline-svg" });
      root.appendChild(svg("title", {}, `${dim} in each window`));
      root.appendChild(svg("line", { x1: L, x2: R, y1: B, y2: B, class: "track" }));
      // windows may overlap (e.g. 20 s every 10 s): draw each at its centre, joined by a
      // line, with the interval as a band around it
      const pts = [];
      for (const w of windows) {
        const s = (w.scores || []).find((q) => q.name === dim);
        if (s && typeof s.value === "number") pts.push({ w, s, t: (w.start_sec + w.end_sec) / 2 });
      }
      const banded = pts.filter((p) => typeof p.s.interval_low === "number" && typeof p.s.interval_high === "number");
      if (banded.length > 1) {
        const upper = banded.map((p) => `${x(p.t)},${y(p.s.interval_high)}`);
        const lower = banded.slice().reverse().map((p) => `${x(p.t)},${y(p.s.interval_low)}`);
        root.appendChild(svg("polygon", { points: [...upper, ...lower].join(" "), class: "window-band" }));
      }
      if (pts.length > 1) {
        root.appendChild(svg("polyline", { points: pts.map((p) => `${x(p.t)},${y(p.s.value)}`).join(" "), class: "window-line" }));
      }
      for (const p of pts) {
        const g = svg("g", { class: "window-row" });
        g.appendChild(svg("title", {}, `${fmt(p.w.start_sec, 1)}–${fmt(p.w.end_sec, 1)} s: ${fmt(p.s.value)}` + (p.w.note ? ` (${p.w.note})` : "")));
        g.appendChild(svg("line", { x1: x(p.w.start_sec), x2: x(p.w.end_sec), y1: y(p.s.value), y2: y(p.s.value), class: "window-span" }));
        g.appendChild(svg("circle", { cx: x(p.t), cy: y(p.s.value), r: 4, class: "window" }));
        root.appendChild(g);
      }
      const d = (state.info && state.info.dimensions || []).find((q) => q.name === dim)
        || (state.rating.scores || []).find((q) => q.name === dim) || {};
      root.appendChild(svg("text", { x: L - 4, y: B, "text-anchor": "end", class: "descriptor" }, d.low || ""));
      root.appendChild(svg("text", { x: L - 4, y: T + 8, "text-anchor": "end", class: "descriptor" }, d.high || ""));
      for (let t = 0; t <= end; t += Math.max(1, Math.ceil(end / 8))) {
        root.appendChild(svg("text", { x: x(t), y: B + 16, "text-anchor": "middle", class: "descriptor" }, `${t} s`));
      }
      const cursor = svg("line", { x1: L, x2: L, y1: T, y2: B, class: "cursor", id: "timeline-cursor" });
      root.appendChild(cursor);
      root.addEventListener("click", (e) => {
        const player = $("player");
        if (player.hidden) return;
        const box = root.getBoundingClientRect();
        const t = ((e.clientX - box.left) / box.width * W - L) / (R - L) * end;
        player.currentTime = Math.max(0, Math.min(end, t));
      });
      $("timeline").replaceChildren(root);
      state.moveCursor = (t) => { const cx = x(Math.max(0, Math.min(end, t))); cursor.setAttribute("x1", cx); cursor.setAttribute("x2", cx); };
    };
    select.onchange = draw;
    draw();
  }

  function followPlayback() {
    const player = $("player");
    let raf = 0;
    const step = () => {
      if (state.moveCursor) state.moveCursor(player.currentTime);
      if (!player.paused) raf = requestAnimationFrame(step);
    };
    player.addEventListener("play", () => { cancelAnimationFrame(raf); raf = requestAnimationFrame(step); });
    player.addEventListener("timeupdate", step);
    player.addEventListener("seeked", step);
  }

  function drawAdvice(advice) {
    const section = $("advice-section");
    if (!Array.isArray(advice) || advice.length === 0) { section.hidden = true; return; }
    section.hidden = false;
    $("advice").replaceChildren(...advice.map((a) => {
      const li = document.createElement("li");
      const when = typeof a.start_sec === "number" ? ` (${fmt(a.start_sec, 1)}–${fmt(a.end_sec, 1)} s)` : "";
      li.textContent = (typeof a === "string" ? a : a.text || "") + when;
      if (typeof a.start_sec === "number") {
        li.tabIndex = 0;
        const seek = () => { const p = $("player"); if (!p.hidden) p.currentTime = a.start_sec; };
        li.addEventListener("click", seek);
        li.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(); });
      }
      return li;
    }));
  }

  function cell(v) {
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(3);
    if (Array.isArray(v) && v.some((x) => Array.isArray(x))) return String(v.length);  // e.g. [[pitch, onset], ...]
    if (Array.isArray(v)) return v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join("; ");
    if (v && typeof v === "object") return JSON.stringify(v);
    return v === null || v === undefined ? "" : String(v);
  }

  function drawBars(bars) {
    const section = $("bars-section");
    if (!Array.isArray(bars) || bars.length === 0) { section.hidden = true; return; }
    section.hidden = false;
    const first = ["bar", "start_sec", "end_sec"];
    const cols = [...first.filter((c) => c in bars[0])];
    for (const b of bars) for (const k of Object.keys(b)) if (!cols.includes(k)) cols.push(k);
    const head = document.createElement("tr");
    for (const c of cols) { const th = document.createElement("th"); th.scope = "col"; th.textContent = c.replace(/_/g, " "); head.appendChild(th); }
    $("bars").tHead.replaceChildren(head);
    const body = $("bars").tBodies[0];
    body.replaceChildren(...bars.map((b) => {
      const tr = document.createElement("tr");
      for (const c of cols) { const td = document.createElement("td"); td.textContent = cell(b[c]); tr.appendChild(td); }
      if (Array.isArray(b.standout) && b.standout.length > 0) {
        tr.classList.add("standout");
        tr.title = `stands out: ${b.standout.join(", ")}`;
      }
      if (typeof b.start_sec === "number") {
        tr.addEventListener("click", () => { const p = $("player"); if (!p.hidden) p.currentTime = b.start_sec; });
      }
      return tr;
    }));
  }

  function drawSummary(items) {
    $("summary").tBodies[0].replaceChildren(...items.map((s) => {
      const tr = document.createElement("tr");
      const a = document.createElement("td"); a.textContent = s.label;
      const b = document.createElement("td"); b.textContent = s.text;
      tr.append(a, b);
      return tr;
    }));
  }

  function setupDownloads(rating) {
    const a = $("download-json");
    if (a.dataset.url) URL.revokeObjectURL(a.dataset.url);
    const url = URL.createObjectURL(new Blob([JSON.stringify(rating, null, 2)], { type: "application/json" }));
    a.href = url;
    a.dataset.url = url;
    const stem = ((rating.input && rating.input.path) || "rating").replace(/\.[^.]+$/, "");
    a.download = `${stem}.rating.json`;
    const html = $("download-html");
    // offered only when the server says it can make one, for the job just rated (the
    // server keeps a finished job's rating for a while: GET /v1/jobs/{id}/report)
    const can = state.info && state.info.features && state.info.features.html_report;
    const jobId = state.jobId;
    html.hidden = !(can && jobId);
    html.href = jobId ? `/v1/jobs/${encodeURIComponent(jobId)}/report` : "#";
    html.onclick = async (e) => {
      e.preventDefault();
      const r = await fetch(html.href);
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        showError(`The report could not be made: ${body.detail || `the server answered ${r.status}`}`);
        return;
      }
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await r.blob());
      link.download = `${stem}.report.html`;
      link.click();
    };
  }

  // ---------------------------------------------------------------- start
  setupDrop();
  setupRecord();
  followPlayback();
  $("rate").addEventListener("click", rate);
  loadInfo();
  window.pianoeval = { render, encodeWav, state };
})();
