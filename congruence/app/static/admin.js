"use strict";
(() => {
  const msg = document.getElementById("admin-message");
  function say(text, ok) {
    msg.textContent = text;
    msg.className = "notice " + (ok ? "ok" : "error");
  }
  const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
  async function submit(form, fn) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        const r = await fn(new FormData(form));
        if (r.ok) { say("Done: " + JSON.stringify(r.data), true); setTimeout(() => location.reload(), 1200); }
        else say(`Refused (${r.status}): ${(r.data && r.data.detail) || ""} ${(r.data && r.data.fix) || ""}`, false);
      } catch (err) { say("Failed: " + err, false); }
      finally { button.disabled = false; }
    });
  }
  const upload = async (url, file) => Congruence.api("POST", url, await file.arrayBuffer(),
                                                    { contentType: "application/octet-stream" });

  submit(document.getElementById("new-user"), (f) =>
    Congruence.api("POST", "/api/admin/users", { username: f.get("username"), password: f.get("password"), role: f.get("role") }));
  submit(document.getElementById("import-session"), (f) => {
    const q = f.get("session_id") ? "?session_id=" + encodeURIComponent(f.get("session_id")) : "";
    return upload("/api/admin/import/session" + q, f.get("file"));
  });
  submit(document.getElementById("import-responses"), (f) => {
    let q = "?filename=" + encodeURIComponent(f.get("file").name);
    if (f.get("system")) q += "&system=" + encodeURIComponent(f.get("system"));
    return upload("/api/admin/import/responses" + q, f.get("file"));
  });
  submit(document.getElementById("assign"), (f) =>
    Congruence.api("POST", "/api/admin/assign", {
      usernames: list(f.get("usernames")), session_ids: list(f.get("session_ids") || ""),
      kind: f.get("kind"), mode: f.get("mode"),
    }));
  submit(document.getElementById("settings"), (f) =>
    Congruence.api("PUT", "/api/admin/settings", { model_estimates: f.get("model_estimates"), queue_order: f.get("queue_order") }));
  submit(document.getElementById("sample"), (f) =>
    Congruence.api("POST", "/api/admin/samples", {
      share: Number(f.get("share")), seed: Number(f.get("seed")), experts: list(f.get("experts")),
    }));

  for (const b of document.querySelectorAll(".toggle-user")) {
    b.addEventListener("click", async () => {
      const r = await Congruence.api("PATCH", "/api/admin/users/" + encodeURIComponent(b.dataset.user),
                                     { active: b.dataset.active !== "true" });
      if (r.ok) location.reload();
      else say(`Refused (${r.status}): ${(r.data && r.data.detail) || ""}`, false);
    });
  }

  const fmt = (v, d) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  function table(headers, rows) {
    const t = document.createElement("table");
    const tr = document.createElement("tr");
    for (const h of headers) { const th = document.createElement("th"); th.textContent = h; tr.appendChild(th); }
    t.appendChild(tr);
    for (const row of rows) {
      const r = document.createElement("tr");
      for (const cell of row) {
        const td = document.createElement("td");
        if (cell && typeof cell === "object") { td.textContent = cell.text; td.className = cell.cls; }
        else td.textContent = cell;
        r.appendChild(td);
      }
      t.appendChild(r);
    }
    return t;
  }
  document.getElementById("load-agreement").addEventListener("click", async () => {
    const r = await Congruence.api("GET", "/api/admin/agreement");
    const out = document.getElementById("agreement");
    out.innerHTML = "";
    if (!r.ok) { say("Refused: " + (r.data && r.data.detail), false); return; }
    for (const t of r.data.table2) {
      const h = document.createElement("h3");
      h.textContent = `E-THER Table II – expert ${t.expert} (${t.reviewed} of ${t.sampled} sampled pairs reviewed)`;
      out.appendChild(h);
      out.appendChild(table(["Measure", "n", "Agree. (%)", "Cohen's κ"],
        t.rows.map((x) => [x.measure, x.n, fmt(x.agreement_pct, 1), fmt(x.kappa, 2)])));
    }
    for (const [name, m] of Object.entries(r.data.kappa_matrices)) {
      const h = document.createElement("h3");
      h.textContent = `Pairwise Cohen's κ – ${name}`;
      out.appendChild(h);
      out.appendChild(table(["", ...m.raters], m.raters.map((a, i) => [a, ...m.kappa[i].map((k) => ({
        text: fmt(k, 2), cls: k === null ? "k-na" : "k-" + Math.max(0, Math.min(10, Math.round(k * 10))),
      }))])));
    }
    if (!out.children.length) out.textContent = "Nothing to compare yet.";
  });
})();
