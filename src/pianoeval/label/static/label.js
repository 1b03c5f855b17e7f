// The labeling page: plain JS, no build step, nothing fetched from elsewhere.
// The server holds the rules (heard-to-end before answers, N raters, honeypots); this page
// plays the segment, draws it, tracks what was heard, and saves each answer when it is given.
"use strict";

(function () {
  const TOKEN_KEY = "pianoeval.label.token";
  const BIN_SEC = 0.1;          // heard-coverage resolution
  const HEARD_SHARE = 0.97;     // share of bins that must have played
  const SPEEDS = [0.5, 0.75, 1];
  const $ = (id) => document.getElementById(id);

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    rater: null,
    item: null,
    dims: [],          // [{info, el, slider, value, answered, confirmed, unsure, pending, saved}]
    focus: 0,
    heard: false,
    covered: null,     // Uint8Array of BIN_SEC bins
    lastT: null,
    blobUrl: null,
    busy: false,
  };
  // interactions the rater makes (trusted keydown / click events), split into listening
  // (play, replay, loop, speed, seek) and the rest; read by the browser test and benchmark
  const counts = { total: 0, listening: 0, other: 0, keys: [] };
  const audio = $("audio");
  const anchorAudio = $("anchor-audio");

  // -- HTTP ------------------------------------------------------------------------------
  async function api(path, options = {}) {
    const headers = Object.assign({}, options.headers || {});
    if (state.token) headers.Authorization = "Bearer " + state.token;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
    }
    const response = await fetch(path, { method: options.method || "GET", headers, body: options.body });
    if (options.raw) return response;
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      const err = new Error((body && body.detail) || response.statusText);
      err.status = response.status;
      throw err;
    }
    return body;
  }

  function say(text) { $("message").textContent = text || ""; }

  // -- login -------------------------------------------------------------------------------
  async function login(token) {
    state.token = token;
    try {
      state.rater = await api("/api/me");
    } catch (e) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      $("login-error").textContent = e.status === 401 ? "Unknown token." : String(e.message);
      return false;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("login-error").textContent = "";
    $("login-section").hidden = true;
    $("logout").hidden = false;
    $("who").textContent = state.rater.name + (state.rater.is_admin ? " (admin)" : "");
    $("qc").hidden = !state.rater.is_admin;
    await loadNext();
    return true;
  }

  // admins: the quality-control page (fetched with the token, opened from a blob URL)
  async function openQC() {
    const response = await api("/api/admin/qc?format=html", { raw: true });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      say("Quality control: " + detail);
      return;
    }
    const url = URL.createObjectURL(new Blob([await response.text()], { type: "text/html" }));
    window.open(url, "_blank");
  }

  function logout() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    audio.pause();
    location.reload();
  }

  // -- items -------------------------------------------------------------------------------
  async function loadNext() {
    say("");
    audio.pause();
    const got = await api("/api/next");
    if (got.done) {
      state.item = null;
      $("rate-section").hidden = true;
      $("done-section").hidden = false;
      return;
    }
    const item = got.item;
    state.item = item;
    state.heard = item.heard;
    state.lastT = null;
    state.covered = new Uint8Array(Math.max(1, Math.ceil(item.duration_sec / BIN_SEC)));
    $("done-section").hidden = true;
    $("rate-section").hidden = false;
    $("segment-id").textContent = item.segment_id;
    $("progress").textContent = item.n_finished + " done";
    $("note").value = item.note || "";
    showHeard();
    buildDims(item);
    setFocus(0);
    await loadAudio(item);
  }

  async function loadAudio(item) {
    const response = await api(item.media_url, { raw: true });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
      say("Cannot load the audio: " + detail);
      return;
    }
    const bytes = await response.arrayBuffer();
    if (state.blobUrl) URL.revokeObjectURL(state.blobUrl);
    state.blobUrl = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
    audio.src = state.blobUrl;
    audio.preservesPitch = true;
    audio.webkitPreservesPitch = true;
    audio.playbackRate = Number($("speed").value);
    audio.loop = $("loop").checked;
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      const buffer = await ctx.decodeAudioData(bytes.slice(0));
      drawWave(buffer);
      drawSpectrogram(buffer);
      ctx.close();
    } catch (e) {
      say("Cannot draw the audio: " + e.message);
    }
    audio.play().catch(() => { /* autoplay refused: the rater presses Play */ });
  }

  // -- dimensions ----------------------------------------------------------------------------
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function buildDims(item) {
    const box = $("dims");
    box.textContent = "";
    state.dims = item.dims.map((info, index) => {
      const row = el("div", "dim");
      row.dataset.dim = info.name;
      const slider = el("input");
      slider.type = "range";
      slider.min = info.min;
      slider.max = info.max;
      slider.step = "any";
      slider.setAttribute("aria-label", info.name + ": " + info.low + " to " + info.high);
      const given = item.answers[info.name];
      const d = {
        info, el: row, slider, index,
        value: given ? given.value : (info.prefill !== null ? info.prefill : (info.min + info.max) / 2),
        answered: Boolean(given),
        confirmed: Boolean(given && given.source === "prefill_confirmed"),
        unsure: Boolean(given && given.unsure),
        pending: false,
        saved: Boolean(given),
      };
      slider.value = d.value;
      const unsure = el("input");
      unsure.type = "checkbox";
      unsure.checked = d.unsure;
      unsure.className = "unsure";
      const valueText = el("span", "value");
      const confirm = el("button", "confirm", "Confirm suggestion (c)");
      confirm.type = "button";
      confirm.hidden = info.prefill === null;

      row.append(el("span", "name", info.name), el("span", "low", info.low), slider,
        el("span", "high", info.high), valueText);
      row.append(el("span", "meaning", info.meaning));
      const extras = el("div", "extras");
      const unsureLabel = el("label");
      unsureLabel.append(unsure, document.createTextNode(" unsure (u)"));
      extras.append(unsureLabel, confirm);
      for (const level of ["low", "mid", "high"]) {
        const a = info.anchors[level];
        if (!a) continue;
        const span = el("span", "anchor");
        const button = el("button", "anchor-play", "▶ " + level);
        button.type = "button";
        button.dataset.level = level;
        button.addEventListener("click", () => playAnchor(a.url));
        span.append(button, el("span", "desc", " " + a.desc));
        extras.append(span);
      }
      row.append(extras, el("div", "state"));
      d.valueText = valueText;
      d.unsureBox = unsure;

      slider.addEventListener("focus", () => setFocus(index, false));
      slider.addEventListener("input", () => { d.value = Number(slider.value); d.confirmed = false; render(d); });
      slider.addEventListener("change", () => give(d, Number(slider.value), false));
      unsure.addEventListener("change", () => { d.unsure = unsure.checked; if (d.answered) send(d); });
      confirm.addEventListener("click", () => confirmSuggestion(d));
      box.append(row);
      render(d);
      return d;
    });
  }

  function render(d) {
    const c = d.el.classList;
    c.toggle("unset", !d.answered && d.info.prefill === null && !d.dirty);
    c.toggle("suggested", !d.answered && d.info.prefill !== null);
    c.toggle("saved", d.saved && !d.pending);
    c.toggle("pending", d.pending);
    d.valueText.textContent = Number(d.value).toFixed(2);
    let text;
    if (d.pending) text = "given: saved once the segment has been heard to the end";
    else if (d.saved) text = d.confirmed ? "suggestion confirmed, saved" : "saved";
    else if (d.info.prefill !== null) text = "suggestion (not counted until you move it or confirm it)";
    else text = "not rated yet";
    if (d.unsure) text += " · unsure";
    d.el.querySelector(".state").textContent = text;
  }

  function setFocus(index, moveDomFocus = true) {
    if (!state.dims.length) return;
    state.focus = Math.max(0, Math.min(state.dims.length - 1, index));
    state.dims.forEach((d, i) => d.el.classList.toggle("focused", i === state.focus));
    if (moveDomFocus) state.dims[state.focus].slider.focus({ preventScroll: false });
  }

  function give(d, value, confirmed) {
    d.value = value;
    d.slider.value = value;
    d.answered = true;
    d.dirty = true;
    d.confirmed = confirmed;
    send(d);
  }

  function confirmSuggestion(d) {
    if (d.info.prefill === null) { say(d.info.name + " has no suggestion to confirm"); return false; }
    give(d, d.info.prefill, true);
    return true;
  }

  function send(d) {
    if (!state.heard) { d.pending = true; d.saved = false; render(d); return Promise.resolve(); }
    const previous = d.inflight || Promise.resolve();
    d.inflight = previous.then(() => post(d));  // one answer of a dimension at a time, in order
    return d.inflight;
  }

  async function post(d) {
    d.pending = false;
    render(d);
    const segment = state.item.segment_id;
    try {
      const saved = await api("/api/answer", { method: "POST", json: {
        segment_id: segment, dim: d.info.name, value: d.value,
        unsure: d.unsure, confirmed_prefill: d.confirmed } });
      if (!state.item || state.item.segment_id !== segment) return;
      d.saved = true;
      d.confirmed = saved.source === "prefill_confirmed";
    } catch (e) {
      if (e.status === 409) d.pending = true;
      d.saved = false;
      say(d.info.name + ": " + e.message);
    }
    render(d);
  }

  function flushPending() {
    for (const d of state.dims) if (d.pending) send(d);
  }

  // -- listening -------------------------------------------------------------------------------
  function showHeard() {
    const node = $("heard-status");
    node.textContent = state.heard ? "heard to the end" : "not heard to the end yet";
    node.className = state.heard ? "heard" : "pending";
  }

  function markPlayed(from, to) {
    if (!state.covered || to < from) return;
    const last = state.covered.length - 1;
    const a = Math.max(0, Math.floor(from / BIN_SEC));
    const b = Math.min(last, Math.floor(to / BIN_SEC));
    for (let i = a; i <= b; i++) state.covered[i] = 1;
  }

  function coverage() {
    if (!state.covered) return 0;
    let n = 0;
    for (const v of state.covered) n += v;
    return n / state.covered.length;
  }

  async function checkHeard() {
    if (state.heard || state.reporting || !state.item) return;
    if (coverage() < HEARD_SHARE || !state.covered[state.covered.length - 1]) return;
    state.reporting = true;
    const segment = state.item.segment_id;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await api("/api/heard", { method: "POST", json: { segment_id: segment } });
        if (state.item && state.item.segment_id === segment) {
          state.heard = true;
          showHeard();
          flushPending();
        }
        break;
      } catch (e) {
        if (e.status !== 409) { say(e.message); break; }
        await new Promise((r) => setTimeout(r, 400));
      }
    }
    state.reporting = false;
  }

  // Marks what played since the last sample: steps of at most 0.5 s of media time count,
  // jumps (seeks) do not; a loop's wrap counts the tail it skipped.
  function sample() {
    const duration = audio.duration || (state.item ? state.item.duration_sec : 0);
    const t = audio.currentTime;
    if (state.lastT !== null) {
      const step = t - state.lastT;
      if (step >= 0 && step <= 0.5) markPlayed(state.lastT, t);
      else if (step < 0 && audio.loop && state.lastT > duration - 0.5) markPlayed(state.lastT, duration);
    }
    state.lastT = t;
    checkHeard();
  }

  function tick() {
    if (!audio.paused) sample();
    const duration = audio.duration || (state.item ? state.item.duration_sec : 0);
    const t = audio.currentTime;
    if (duration > 0) {
      $("playhead").style.left = (100 * Math.min(1, t / duration)) + "%";
      $("time").textContent = t.toFixed(1) + " / " + duration.toFixed(1) + " s";
    }
    requestAnimationFrame(tick);
  }

  audio.addEventListener("timeupdate", sample);
  audio.addEventListener("ended", () => { sample(); $("play").textContent = "Play"; });
  audio.addEventListener("seeking", () => { state.lastT = null; });
  audio.addEventListener("seeked", () => { state.lastT = audio.currentTime; });
  audio.addEventListener("play", () => { state.lastT = audio.currentTime; $("play").textContent = "Pause"; });
  audio.addEventListener("pause", () => { $("play").textContent = "Play"; });

  function togglePlay() { if (audio.paused) audio.play().catch((e) => say(e.message)); else audio.pause(); }
  function replay() { audio.currentTime = 0; audio.play().catch((e) => say(e.message)); }
  function toggleLoop() { $("loop").checked = !$("loop").checked; audio.loop = $("loop").checked; }
  function setSpeed(delta) {
    const i = SPEEDS.indexOf(Number($("speed").value));
    const next = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, i + delta))];
    $("speed").value = String(next);
    audio.playbackRate = next;
  }

  async function playAnchor(url) {
    const response = await api(url, { raw: true });
    if (!response.ok) { say("Cannot load the anchor"); return; }
    const blob = await response.blob();
    audio.pause();
    anchorAudio.src = URL.createObjectURL(blob);
    anchorAudio.play().catch((e) => say(e.message));
  }

  // -- drawing ---------------------------------------------------------------------------------
  function drawWave(buffer) {
    const canvas = $("wave");
    const g = canvas.getContext("2d");
    const y = buffer.getChannelData(0);
    const w = canvas.width, h = canvas.height;
    g.clearRect(0, 0, w, h);
    g.fillStyle = "#2f6fde";
    const per = Math.max(1, Math.floor(y.length / w));
    let peak = 1e-6;
    for (let i = 0; i < y.length; i++) peak = Math.max(peak, Math.abs(y[i]));
    for (let x = 0; x < w; x++) {
      let lo = 0, hi = 0;
      for (let i = x * per; i < Math.min(y.length, (x + 1) * per); i++) {
        if (y[i] < lo) lo = y[i];
        if (y[i] > hi) hi = y[i];
      }
      const top = h / 2 - (hi / peak) * (h / 2 - 2);
      const bottom = h / 2 - (lo / peak) * (h / 2 - 2);
      g.fillRect(x, top, 1, Math.max(1, bottom - top));
    }
  }

  // In-place radix-2 FFT (re, im: Float64Array of a power-of-two length).
  function fft(re, im) {
    const n = re.length;
    for (let i = 1, j = 0; i < n; i++) {
      let bit = n >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
    }
    for (let len = 2; len <= n; len <<= 1) {
      const ang = -2 * Math.PI / len;
      const wr = Math.cos(ang), wi = Math.sin(ang);
      for (let i = 0; i < n; i += len) {
        let cr = 1, ci = 0;
        for (let k = 0; k < len / 2; k++) {
          const a = i + k, b = a + len / 2;
          const tr = re[b] * cr - im[b] * ci, ti = re[b] * ci + im[b] * cr;
          re[b] = re[a] - tr; im[b] = im[a] - ti;
          re[a] += tr; im[a] += ti;
          const ncr = cr * wr - ci * wi;
          ci = cr * wi + ci * wr; cr = ncr;
        }
      }
    }
  }

  function drawSpectrogram(buffer) {
    const canvas = $("spec");
    const g = canvas.getContext("2d");
    const y = buffer.getChannelData(0);
    const w = canvas.width, h = canvas.height;
    const n = 1024;
    const window = new Float64Array(n);
    for (let i = 0; i < n; i++) window[i] = 0.5 - 0.5 * Math.cos(2 * Math.PI * i / n);
    const image = g.createImageData(w, h);
    const re = new Float64Array(n), im = new Float64Array(n);
    const maxBin = n / 2;
    const columns = [];
    let top = -Infinity;
    for (let x = 0; x < w; x++) {
      const start = Math.floor((x / w) * Math.max(0, y.length - n));
      for (let i = 0; i < n; i++) { re[i] = (y[start + i] || 0) * window[i]; im[i] = 0; }
      fft(re, im);
      const col = new Float32Array(h);
      for (let row = 0; row < h; row++) {
        // log-spaced rows: piano partials spread over octaves
        const f0 = Math.pow(maxBin, row / h), f1 = Math.pow(maxBin, (row + 1) / h);
        let m = 0;
        for (let k = Math.floor(f0); k <= Math.min(maxBin - 1, Math.ceil(f1)); k++) {
          m = Math.max(m, re[k] * re[k] + im[k] * im[k]);
        }
        col[row] = 10 * Math.log10(m + 1e-12);
        top = Math.max(top, col[row]);
      }
      columns.push(col);
    }
    for (let x = 0; x < w; x++) {
      for (let row = 0; row < h; row++) {
        const v = Math.max(0, Math.min(1, (columns[x][row] - top + 80) / 80));
        const p = ((h - 1 - row) * w + x) * 4;
        image.data[p] = Math.round(255 * Math.min(1, 2 * v));
        image.data[p + 1] = Math.round(255 * Math.max(0, 2 * v - 1));
        image.data[p + 2] = Math.round(120 * v);
        image.data[p + 3] = 255;
      }
    }
    g.putImageData(image, 0, 0);
  }

  function seek(event) {
    const rect = $("canvases").getBoundingClientRect();
    const share = Math.max(0, Math.min(1, (event.clientX - rect.left) / rect.width));
    if (audio.duration) audio.currentTime = share * audio.duration;
  }

  // -- actions ---------------------------------------------------------------------------------
  async function skip() {
    if (!state.item || state.busy) return;
    state.busy = true;
    try {
      await api("/api/skip", { method: "POST", json: { segment_id: state.item.segment_id } });
      await loadNext();
    } catch (e) { say(e.message); }
    state.busy = false;
  }

  async function next() {
    if (!state.item || state.busy) return;
    if (!state.heard) { say("Listen to the segment to the end first."); return; }
    state.busy = true;
    try {
      await Promise.all(state.dims.map((d) => d.inflight).filter(Boolean));
      const missing = state.dims.filter((d) => !d.saved);
      if (missing.length) {
        say("Rate every dimension first (" + missing.map((d) => d.info.name).join(", ") + "), or skip.");
        setFocus(missing[0].index);
      } else {
        await api("/api/done", { method: "POST", json: { segment_id: state.item.segment_id } });
        await loadNext();
      }
    } catch (e) { say(e.message); }
    state.busy = false;
  }

  async function saveNote() {
    if (!state.item) return;
    try {
      await api("/api/note", { method: "POST", json: { segment_id: state.item.segment_id, text: $("note").value } });
    } catch (e) { say("note: " + e.message); }
  }

  // -- input -----------------------------------------------------------------------------------
  const LISTEN_KEYS = new Set([" ", "r", "l", "[", "]"]);
  const LISTEN_IDS = new Set(["play", "replay", "loop", "speed", "wave", "spec", "canvases"]);

  document.addEventListener("keydown", (e) => {
    if (!e.isTrusted || e.repeat) return;
    counts.total++;
    counts.keys.push(e.key);
    if (LISTEN_KEYS.has(e.key) && !isTyping(e.target)) counts.listening++; else counts.other++;
  }, true);
  document.addEventListener("click", (e) => {
    if (!e.isTrusted) return;
    counts.total++;
    const target = e.target.closest ? e.target.closest("[id]") : null;
    if (target && LISTEN_IDS.has(target.id)) counts.listening++; else counts.other++;
  }, true);

  function isTyping(target) {
    return target && (target.tagName === "TEXTAREA" ||
      (target.tagName === "INPUT" && ["text", "password"].includes(target.type)));
  }

  document.addEventListener("keydown", (e) => {
    if (!state.item || $("rate-section").hidden) return;
    if (isTyping(e.target)) {
      if (e.key === "Escape") { e.target.blur(); setFocus(state.focus); }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const d = state.dims[state.focus];
    if (/^[1-9]$/.test(e.key) && d) {
      const k = Number(e.key);
      give(d, d.info.min + ((k - 1) / 8) * (d.info.max - d.info.min), false);
      setFocus(state.focus + 1);
    } else if (e.key === " ") togglePlay();
    else if (e.key === "r") replay();
    else if (e.key === "l") toggleLoop();
    else if (e.key === "[") setSpeed(-1);
    else if (e.key === "]") setSpeed(1);
    else if (e.key === "c" && d) { if (confirmSuggestion(d)) setFocus(state.focus + 1); }
    else if (e.key === "u" && d) { d.unsureBox.checked = !d.unsureBox.checked; d.unsure = d.unsureBox.checked; if (d.answered) send(d); else render(d); }
    else if (e.key === "n") $("note").focus();
    else if (e.key === "s") skip();
    else if (e.key === "Enter") next();
    else if (e.key === "ArrowDown") setFocus(state.focus + 1);
    else if (e.key === "ArrowUp") setFocus(state.focus - 1);
    else return;
    e.preventDefault();
  });

  $("login-form").addEventListener("submit", (e) => { e.preventDefault(); login($("token").value.trim()); });
  $("logout").addEventListener("click", logout);
  $("qc").addEventListener("click", openQC);
  $("play").addEventListener("click", togglePlay);
  $("replay").addEventListener("click", replay);
  $("loop").addEventListener("change", () => { audio.loop = $("loop").checked; });
  $("speed").addEventListener("change", () => { audio.playbackRate = Number($("speed").value); });
  $("canvases").addEventListener("click", seek);
  $("skip").addEventListener("click", skip);
  $("next").addEventListener("click", next);
  $("note").addEventListener("change", saveNote);

  function resetCounts() { counts.total = 0; counts.listening = 0; counts.other = 0; counts.keys = []; }

  window.pianoeval = { state, counts, audio, resetCounts };
  requestAnimationFrame(tick);
  if (state.token) login(state.token);
})();
