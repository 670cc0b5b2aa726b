"use strict";
(() => {
  const { view, user } = Congruence.pageData();
  const prefix = `congruence:${user}:`;
  const CRITERIA = ["applicability", "empathy", "comprehensiveness"];
  const savers = [];

  for (const r of view.responses) {
    const section = document.querySelector(`section[data-response="${r.response_id}"]`);
    const key = `${prefix}rate:${r.response_id}`;
    const show = (values) => {
      for (const c of CRITERIA) {
        for (const input of section.querySelectorAll(`input[name="${r.response_id}-${c}"]`)) {
          input.checked = values[c] !== null && Number(input.value) === values[c];
        }
      }
    };
    const read = () => {
      const v = {};
      for (const c of CRITERIA) {
        const x = section.querySelector(`input[name="${r.response_id}-${c}"]:checked`);
        v[c] = x ? Number(x.value) : null;
      }
      return v;
    };
    const saver = new Congruence.AutoSaver({
      key, url: `/api/responses/${encodeURIComponent(r.response_id)}/rating`, version: r.rating.version,
      status: section.querySelector(".save-status"), onConflict: (cur) => { if (cur) show(cur); },
    });
    section.addEventListener("change", () => saver.change(read()));
    show(r.rating);
    const draft = saver.pending();
    if (draft) { show(draft.values); saver.flush(); }
    savers.push({ saver, section, read });
    window.addEventListener("pagehide", () => { if (saver.pending()) saver.flush({ keepalive: true }); });
  }
  Congruence.resendDrafts(prefix, null);

  // keyboard: a cursor over (response, criterion); 1-5 rates it and moves on
  const cells = Array.from(document.querySelectorAll(".likert"));
  let cur = 0;
  function focusCell(i) {
    cur = Math.max(0, Math.min(cells.length - 1, i));
    cells.forEach((c, j) => c.classList.toggle("cursor", j === cur));
    cells[cur].scrollIntoView({ block: "nearest" });
  }
  cells.forEach((c, i) => c.addEventListener("click", () => focusCell(i)));
  if (cells.length) focusCell(0);

  async function go(id) {
    if (!id) return;
    await Promise.race([Promise.all(savers.map((s) => s.saver.flush())), new Promise((r) => setTimeout(r, 3000))]);
    location.href = `/rate/${id}`;
  }
  document.getElementById("prev").addEventListener("click", () => go(view.prev_id));
  document.getElementById("next").addEventListener("click", () => go(view.next_id));

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || Congruence.typing(e)) return;
    const k = e.key.toLowerCase();
    if (/^[1-5]$/.test(k) && cells.length) {
      const input = cells[cur].querySelector(`input[value="${k}"]`);
      input.checked = true;
      input.dispatchEvent(new Event("change", { bubbles: true }));
      focusCell(cur + 1);
      e.preventDefault();
    } else if (k === "arrowdown") { focusCell(cur + 1); e.preventDefault(); }
    else if (k === "arrowup") { focusCell(cur - 1); e.preventDefault(); }
    else if (k === "n") go(view.next_id);
    else if (k === "p") go(view.prev_id);
  });
  document.body.dataset.ready = "1"; // the page answers keys from here on (tests wait for it)
})();
