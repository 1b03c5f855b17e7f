// pianoeval pairwise page: plain JS, no build step, nothing downloaded.
// Flow: GET next -> play A and B to their end (each end is POSTed to heard) -> choose
// (POST choice, committed before the answer) -> Enter loads the next pair x dimension.
(function () {
  "use strict";

  // API routes sit next to the page: /<prefix>/pairwise/ -> /<prefix>/pairwise/next ...
  const base = window.location.pathname.replace(/[^/]*$/, "");
  const $ = (id) => document.getElementById(id);
  const state = { token: null, item: null, heard: { a: false, b: false }, chosen: null, busy: false };
  const takes = {
    a: { audio: $("audio-a"), bar: $("bar-a"), heardEl: $("heard-a"), box: $("take-a"), label: "A" },
    b: { audio: $("audio-b"), bar: $("bar-b"), heardEl: $("heard-b"), box: $("take-b"), label: "B" },
  };
  const chooseButtons = { left: $("choose-left"), same: $("choose-same"), right: $("choose-right") };

  function message(text, isError) {
    const el = $("message");
    el.textContent = text || "";
    el.className = isError ? "error" : "muted";
  }

  function show(section) {
    for (const id of ["login", "task", "done"]) $(id).hidden = id !== section;
  }

  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: "Bearer " + state.token } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(base + path, opts);
    if (res.status === 401) {
      sessionStorage.removeItem("pianoeval-token");
      show("login");
      throw new Error("unknown rater token");
    }
    let data = null;
    if (res.status !== 204) data = await res.json().catch(() => null);
    if (!res.ok) {
      const detail = data && data.detail ? data.detail : res.statusText;
      const err = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function bothHeard() {
    return state.heard.a && state.heard.b;
  }

  function refreshButtons() {
    const ready = bothHeard() && !state.busy;
    for (const [choice, btn] of Object.entries(chooseButtons)) {
      btn.disabled = !ready;
      btn.setAttribute("aria-pressed", String(state.chosen === choice));
    }
    $("next").disabled = state.chosen === null || state.busy;
    for (const key of ["a", "b"]) {
      const t = takes[key];
      t.heardEl.textContent = state.heard[key] ? "heard" : "not heard yet";
      t.heardEl.classList.toggle("yes", state.heard[key]);
    }
  }

  // Media of this server is fetched with the token (the app's media route may need it) and
  // played from a blob URL; a URL of another origin is given to the player as it is, so the
  // token never leaves this server.
  async function loadMedia(t, url) {
    if (t.blobUrl) URL.revokeObjectURL(t.blobUrl);
    t.blobUrl = null;
    const target = new URL(url, window.location.href);
    if (target.origin !== window.location.origin) {
      t.audio.src = target.href;
      return;
    }
    const res = await fetch(target.href, { headers: { Authorization: "Bearer " + state.token } });
    if (!res.ok) throw new Error(`take ${t.label} cannot be loaded (HTTP ${res.status})`);
    t.blobUrl = URL.createObjectURL(await res.blob());
    t.audio.src = t.blobUrl;
  }

  async function setTake(key, take) {
    const t = takes[key];
    state.heard[key] = Boolean(take.heard);
    if (t.segmentId === take.segment_id) return;
    t.audio.pause();
    t.bar.value = 0;
    t.segmentId = null;
    await loadMedia(t, take.media_url);
    t.segmentId = take.segment_id;
  }

  async function loadNext() {
    state.busy = true;
    refreshButtons();
    try {
      const item = await api("GET", "next");
      state.item = item;
      state.chosen = null;
      if (item.done) {
        for (const key of ["a", "b"]) takes[key].audio.pause();
        $("done-line").textContent = `You gave ${item.answered} of ${item.total} comparisons. Thank you.`;
        show("done");
        return;
      }
      show("task");
      $("progress").textContent = `${item.answered + 1} of ${item.total} · passage ${item.passage}`;
      $("question").textContent = item.question;
      $("low").textContent = item.low;
      $("high").textContent = item.high;
      await Promise.all([setTake("a", item.left), setTake("b", item.right)]);
      message(bothHeard() ? "" : "Listen to A and B to the end, then choose.");
    } catch (err) {
      message(err.message, true);
    } finally {
      state.busy = false;
      refreshButtons();
    }
  }

  function play(key) {
    if (!state.item || state.item.done) return;
    const other = takes[key === "a" ? "b" : "a"];
    other.audio.pause();
    other.box.classList.remove("playing");
    const t = takes[key];
    if (t.audio.ended) t.audio.currentTime = 0;
    t.box.classList.add("playing");
    t.audio.play().catch((err) => message("cannot play take " + key.toUpperCase() + ": " + err.message, true));
  }

  async function onEnded(key) {
    const t = takes[key];
    t.box.classList.remove("playing");
    t.bar.value = 1;
    try {
      await api("POST", "heard", { segment_id: t.segmentId });
      state.heard[key] = true;
      if (bothHeard() && state.chosen === null) message("Now choose: ← A, = same, B →.");
    } catch (err) {
      message(err.message, true);
    }
    refreshButtons();
  }

  async function choose(choice) {
    if (!state.item || state.item.done || state.busy) return;
    if (!bothHeard()) {
      message("Listen to both takes to the end first.", true);
      return;
    }
    state.busy = true;
    refreshButtons();
    try {
      await api("POST", "choice", {
        left_id: state.item.left.segment_id,
        right_id: state.item.right.segment_id,
        dim: state.item.dim,
        choice,
      });
      state.chosen = choice;
      const said = { left: "A", right: "B", same: "the same" }[choice];
      message(`Saved: ${said}. Enter for the next question.`);
    } catch (err) {
      message(err.message, true);
    } finally {
      state.busy = false;
      refreshButtons();
    }
  }

  function next() {
    if (state.chosen !== null && !state.busy) loadNext();
  }

  for (const key of ["a", "b"]) {
    const t = takes[key];
    t.audio.addEventListener("ended", () => onEnded(key));
    t.audio.addEventListener("timeupdate", () => {
      if (t.audio.duration > 0) t.bar.value = t.audio.currentTime / t.audio.duration;
    });
    t.audio.addEventListener("error", () => {
      if (t.audio.getAttribute("src")) message(`take ${t.label} cannot be played`, true);
    });
    $("play-" + key).addEventListener("click", () => play(key));
  }
  for (const [choice, btn] of Object.entries(chooseButtons)) {
    btn.addEventListener("click", () => choose(choice));
  }
  $("next").addEventListener("click", next);

  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const actions = {
      a: () => play("a"),
      b: () => play("b"),
      ArrowLeft: () => choose("left"),
      ArrowRight: () => choose("right"),
      "=": () => choose("same"),
      Enter: next,
    };
    const action = actions[ev.key];
    if (action) {
      ev.preventDefault();
      action();
    }
  });

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    state.token = token;
    sessionStorage.setItem("pianoeval-token", token);
    loadNext();
  });

  // the token: #token=... in the address (then removed from it), or this tab's session
  const fromHash = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("pianoeval-token", fromHash);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  state.token = sessionStorage.getItem("pianoeval-token");
  window.pianoevalPairwise = { state };
  if (state.token) loadNext();
  else show("login");
})();
