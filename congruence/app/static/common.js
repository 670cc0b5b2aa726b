"use strict";
// Shared helpers: CSRF-aware fetch, ids for idempotent saves, and the autosaver that keeps
// every unsaved edit in localStorage until the server has acknowledged it.
const Congruence = (() => {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function api(method, url, body, opts = {}) {
    const headers = { "X-CSRF-Token": csrf() };
    let payload = body;
    if (opts.contentType) headers["Content-Type"] = opts.contentType;
    else if (body !== undefined && !(body instanceof Blob) && !(body instanceof ArrayBuffer)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const resp = await fetch(url, {
      method, headers, body: payload, credentials: "same-origin", keepalive: !!opts.keepalive,
    });
    let data = null;
    try { data = await resp.json(); } catch (e) { /* not JSON */ }
    return { status: resp.status, ok: resp.ok, data };
  }

  function opId() {
    const a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function pageData() {
    const el = document.getElementById("page-data");
    return el ? JSON.parse(el.textContent) : null;
  }

  function typing(e) {
    const t = e.target;
    if (!t) return false;
    if (t.tagName === "INPUT") return !["radio", "range", "checkbox", "button"].includes(t.type);
    return t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable;
  }

  function load(key) {
    try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { return null; }
  }
  function store(key, value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* storage full: the save still goes out */ }
  }

  // One autosaver per record (an annotation, or one response's rating).
  // A draft = {url, op_id, base_version, values}; it stays in localStorage until the server
  // answers for exactly that op_id, so a reload, a crash or a lost connection loses nothing,
  // and a retried request is recognised by the server (same op_id) instead of saved twice.
  class AutoSaver {
    constructor({ key, url, version, status, onSaved, onConflict }) {
      Object.assign(this, { key, url, version, status, onSaved, onConflict });
      this.inflight = null;
      this.timer = null;
      this.retryDelay = 1000;
    }
    pending() { return load(this.key); }
    change(values) {
      store(this.key, { url: this.url, op_id: opId(), base_version: this.version, values });
      this.say("Saving…", "saving");
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.flush(), 300);
    }
    say(text, cls) {
      if (!this.status) return;
      this.status.textContent = text;
      this.status.className = "save-status " + (cls || "");
    }
    async flush(opts = {}) {
      if (this.inflight) return this.inflight;
      const draft = this.pending();
      if (!draft) return null;
      this.inflight = this._send(draft, opts).finally(() => { this.inflight = null; });
      const result = await this.inflight;
      const next = this.pending();
      if (next && next.op_id !== draft.op_id && result === "ok") return this.flush(opts);
      return result;
    }
    async _send(draft, opts) {
      let r;
      try {
        r = await api("PUT", draft.url, { op_id: draft.op_id, base_version: draft.base_version, ...draft.values },
                      { keepalive: !!opts.keepalive });
      } catch (e) {
        this.say("Offline – your changes are kept in this browser; retrying…", "offline");
        this.retry();
        return "offline";
      }
      const current = this.pending();
      if (r.ok) {
        this.version = r.data.version;
        this.retryDelay = 1000;
        if (current && current.op_id === draft.op_id) localStorage.removeItem(this.key);
        else if (current) { current.base_version = this.version; store(this.key, current); }
        this.say(`All changes saved (version ${this.version})`, "saved");
        if (this.onSaved) this.onSaved(r.data);
        return "ok";
      }
      if (r.status === 409) {
        localStorage.removeItem(this.key);
        const cur = (r.data && r.data.current) || null;
        if (cur) this.version = cur.version;
        this.say("This was changed in another window; the saved version is shown.", "conflict");
        if (this.onConflict) this.onConflict(cur);
        return "conflict";
      }
      if (r.status === 401) {
        if (!this.status) return "auth";
        this.status.innerHTML = "";
        this.say("Your session has expired – your changes are kept in this browser. ", "offline");
        const a = document.createElement("a");
        a.href = "/login?expired=1&next=" + encodeURIComponent(location.pathname + location.search);
        a.textContent = "Log in again";
        this.status.appendChild(a);
        return "auth";
      }
      if (r.status === 422 || r.status === 404 || r.status === 403) {
        localStorage.removeItem(this.key);
        this.say("Not saved: " + ((r.data && r.data.detail) || r.status), "error");
        return "refused";
      }
      this.say("The server did not save (" + r.status + "); retrying…", "offline");
      this.retry();
      return "error";
    }
    retry() {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.flush(), this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, 30000);
    }
  }

  // Drafts of other records left by an earlier page (e.g. closed before the save arrived).
  async function resendDrafts(prefix, exceptKey) {
    for (let i = localStorage.length - 1; i >= 0; i--) {
      const key = localStorage.key(i);
      if (!key || !key.startsWith(prefix) || key === exceptKey) continue;
      const d = load(key);
      if (!d || !d.url) { localStorage.removeItem(key); continue; }
      const saver = new AutoSaver({ key, url: d.url, version: d.base_version, status: null });
      await saver.flush();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const out = document.getElementById("logout");
    if (out) out.addEventListener("click", async () => { await api("POST", "/logout"); location.href = "/login"; });
  });

  return { api, opId, pageData, typing, AutoSaver, resendDrafts };
})();
