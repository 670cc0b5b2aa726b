"use strict";
(() => {
  const { view, user } = Congruence.pageData();
  const FIELDS = ["engagement", "valence", "arousal", "dominance"];
  const form = document.getElementById("annotation");
  const statusEl = document.getElementById("save-status");
  const prefix = `congruence:${user}:`;
  const key = `${prefix}ann:${view.pair_id}`;
  const set = {}; // which sliders hold a value (a range input always shows one)

  function level(v) { return v < 0.35 ? "low" : v < 0.75 ? "moderate" : "high"; }

  function show(values) {
    for (const r of form.querySelectorAll('input[name="incongruence"]')) r.checked = r.value === values.incongruence;
    for (const f of FIELDS) {
      const input = document.getElementById(f);
      const out = document.getElementById(`${f}-out`);
      const v = values[f];
      set[f] = v !== null && v !== undefined;
      if (set[f]) input.value = v;
      input.classList.toggle("unset", !set[f]);
      out.textContent = set[f] ? Number(v).toFixed(2) : "not set";
      if (f === "engagement") {
        const lv = document.getElementById("engagement-level");
        lv.textContent = set[f] ? level(Number(v)) : "";
        lv.className = "badge level " + (set[f] ? level(Number(v)) : "");
      }
    }
  }

  function read() {
    const checked = form.querySelector('input[name="incongruence"]:checked');
    const values = { incongruence: checked ? checked.value : null };
    for (const f of FIELDS) values[f] = set[f] ? Number(document.getElementById(f).value) : null;
    return values;
  }

  const saver = new Congruence.AutoSaver({
    key,
    url: `/api/pairs/${view.pair_id}/annotation`,
    version: view.annotation.version,
    status: statusEl,
    onConflict: (current) => { if (current) show(current); },
  });

  function changed() { show(read()); saver.change(read()); }

  form.addEventListener("change", (e) => { if (e.target.name === "incongruence") changed(); });
  for (const f of FIELDS) {
    const input = document.getElementById(f);
    input.addEventListener("input", () => { set[f] = true; changed(); });
    // a click on the slider at its current value still means "I chose this value"
    input.addEventListener("pointerup", () => { if (!set[f]) { set[f] = true; changed(); } });
  }
  for (const b of form.querySelectorAll("[data-clear]")) {
    b.addEventListener("click", () => { set[b.dataset.clear] = false; changed(); });
  }

  async function go(id) {
    if (!id) return;
    await Promise.race([saver.flush(), new Promise((r) => setTimeout(r, 3000))]);
    location.href = `/annotate/${id}?order=${encodeURIComponent(view.order)}`;
  }
  document.getElementById("prev").addEventListener("click", () => go(view.prev_id));
  document.getElementById("next").addEventListener("click", () => go(view.next_id));

  const help = document.getElementById("help");
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || Congruence.typing(e)) return;
    const k = e.key.toLowerCase();
    const types = { 1: "none", 2: "minimizing", 3: "contradiction" };
    if (types[k]) {
      const r = form.querySelector(`input[name="incongruence"][value="${types[k]}"]`);
      r.checked = true; changed(); e.preventDefault();
    } else if ("evad".includes(k) && k.length === 1) {
      const slider = form.querySelector(`.slider[data-key="${k}"] input`);
      slider.focus();
      if (!set[slider.id]) { set[slider.id] = true; changed(); }
      e.preventDefault();
    } else if (k === "escape") {
      document.activeElement.blur();
    } else if (k === "n" || (k === "arrowright" && document.activeElement.type !== "range")) {
      go(view.next_id);
    } else if (k === "p" || (k === "arrowleft" && document.activeElement.type !== "range")) {
      go(view.prev_id);
    } else if (e.key === "?") {
      help.open ? help.close() : help.showModal();
    }
  });

  // estimates (only present when the instance shows them)
  function renderEstimates(items) {
    const t = document.getElementById("estimates");
    t.innerHTML = "<tr><th>Estimate</th><th>Value</th><th>Source</th></tr>";
    for (const it of items) {
      const tr = document.createElement("tr");
      const v = it.value === null ? "missing" : typeof it.value === "number" ? it.value.toFixed(2) : String(it.value);
      for (const text of [it.label, v, `${it.estimator || "?"} (${it.kind || "?"})`]) {
        const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
      }
      t.appendChild(tr);
    }
  }
  if (view.estimates) renderEstimates(view.estimates);
  const showBtn = document.getElementById("show-estimates");
  if (showBtn) showBtn.addEventListener("click", async () => {
    const r = await Congruence.api("POST", `/api/pairs/${view.pair_id}/estimates`);
    if (r.ok) { renderEstimates(r.data); showBtn.remove(); }
  });

  // start: the server's state, then any edit this browser has not yet delivered
  show(view.annotation);
  const draft = saver.pending();
  if (draft) { show(draft.values); saver.say("Sending changes kept in this browser…", "saving"); saver.flush(); }
  Congruence.resendDrafts(prefix, key);
  window.addEventListener("pagehide", () => { if (saver.pending()) saver.flush({ keepalive: true }); });
  document.body.dataset.ready = "1"; // the page answers keys from here on (tests wait for it)
})();
