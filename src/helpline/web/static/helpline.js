/* Helpline workspace: live updates over the agent WebSocket, collision, routing (agent state, offers,
   wallboard), ticking clocks, keyboard shortcuts. */
(() => {
  "use strict";
  const body = document.body;
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // --- composer tabs, resets, toasts --------------------------------------------------
  document.addEventListener("click", (ev) => {
    const tab = ev.target.closest("[data-tab]");
    if (tab) {
      ev.preventDefault();
      showComposer(tab.dataset.tab);
    }
    if (ev.target.closest("[data-action=shortcuts]")) {
      ev.preventDefault();
      $("#shortcuts")?.showModal();
    }
    if (ev.target.closest("[data-action=fullscreen]")) {
      const board = $(".content");
      if (document.fullscreenElement) document.exitFullscreen();
      else board?.requestFullscreen?.();
    }
    // A click outside an open header menu closes it.
    $$("details.agent-state[open], details.usermenu[open]").forEach((menu) => {
      if (!menu.contains(ev.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("change", (ev) => {
    if (ev.target.matches("[data-autosubmit]") && ev.target.form) ev.target.form.requestSubmit();
  });
  function showComposer(name) {
    $$(".composer [data-tab]").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    $$(".composer form[data-pane]").forEach((f) => f.classList.toggle("hidden", f.dataset.pane !== name));
    $(`.composer form[data-pane=${name}] textarea`)?.focus();
  }
  document.addEventListener("htmx:afterRequest", (ev) => {
    const form = ev.target.closest && ev.target.closest("form[data-reset-on-success]");
    if (form && ev.detail.successful) {
      form.reset();
      sendTyping(false);
    }
  });
  document.addEventListener("htmx:afterSwap", () => {
    if (selectedId) selectRow($(`#conv-row-${selectedId}`), false);
  });
  document.addEventListener("htmx:sendError", () => toast(body.dataset.tOffline || "Offline", true));

  function toast(text, error) {
    const box = $("#toasts");
    if (!box) return;
    box.innerHTML = "";
    const el = document.createElement("div");
    el.className = "toast" + (error ? " error" : "");
    el.textContent = text;
    box.appendChild(el);
  }

  // --- clocks: time in state, longest wait, offer countdowns ----------------------------
  // The server renders the seconds as of its render ([data-elapsed] counts up, [data-remaining]
  // counts down); the browser carries them on from when it first saw the element.
  const pad = (n) => String(n).padStart(2, "0");
  function clockText(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
  }
  const baseTitle = document.title;
  function tick() {
    const now = Date.now();
    $$("[data-elapsed]").forEach((el) => {
      if (!el._t0) el._t0 = now;
      el.textContent = clockText(Number(el.dataset.elapsed) + (now - el._t0) / 1000);
    });
    $$("[data-remaining]").forEach((el) => {
      if (!el._t0) el._t0 = now;
      const left = Number(el.dataset.remaining) - (now - el._t0) / 1000;
      el.textContent = clockText(Math.ceil(Math.max(0, left)));
      el.closest(".offer-card")?.classList.toggle("expiring", left <= 5);
    });
    const offers = $$(".offer-card").length;
    document.title = offers ? `(${offers}) ● ${baseTitle}` : baseTitle;
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSettle", tick);

  // --- live updates ------------------------------------------------------------------
  if (!body.dataset.userId) return;
  const live = $("#live-status");
  const conversationId = () => Number($("[data-conversation-id]")?.dataset.conversationId || 0) || null;
  let socket = null;
  let retry = 0;
  let dropped = false;
  const timers = {};

  function debounce(key, fn, ms) {
    if (timers[key]) return;
    timers[key] = setTimeout(() => { delete timers[key]; fn(); }, ms);
  }
  function refresh(selector) {
    const el = $(selector);
    if (el && window.htmx) window.htmx.trigger(el, "refresh");
  }
  function refreshAll() {
    refresh("#inbox-rows");
    refresh("#conv-live");
    refresh("#agent-bar");
    refresh("#wallboard");
    body.dispatchEvent(new Event("refresh-nav"));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws");
    socket.onopen = () => {
      retry = 0;
      live?.classList.add("on");
      announceView();
      if (dropped) refreshAll(); // anything we missed while away
      dropped = false;
    };
    socket.onclose = () => {
      live?.classList.remove("on");
      dropped = true;
      setTimeout(connect, Math.min(10000, 400 * 2 ** retry++));
    };
    socket.onmessage = (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      handle(frame);
    };
  }

  let lastChanged = null;
  function handle(frame) {
    // Frames that queued up on the server while it was sending arrive together.
    if (frame.type === "batch") return (frame.frames || []).forEach(handle);
    if (frame.type === "viewers") return renderViewers(frame);
    if (frame.type === "visitor_typing") return renderVisitorTyping(frame);
    // An offer or a state change for me: the header (state, offers) fetches itself again.
    if (frame.type === "routing") return debounce("agent-bar", () => refresh("#agent-bar"), 30);
    if (frame.type === "wallboard") return debounce("wallboard", () => refresh("#wallboard"), 100);
    if (!frame.type || !frame.conversation_id) return;
    lastChanged = frame.conversation_id;
    debounce("inbox", () => refresh("#inbox-rows"), 150);
    debounce("nav", () => body.dispatchEvent(new Event("refresh-nav")), 1000);
    const current = conversationId();
    if (current && (frame.conversation_id === current || frame.merged_id === current)) {
      debounce("conversation", () => refresh("#conv-live"), 50);
    }
  }
  document.addEventListener("htmx:afterSwap", (ev) => {
    if (ev.target.id === "inbox-rows" && lastChanged) {
      $(`#conv-row-${lastChanged}`)?.classList.add("flash");
    }
  });

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }
  function announceView() {
    send({ type: "view", conversation_id: conversationId() });
  }
  setInterval(announceView, 20000); // keeps our "viewing" mark alive in others' screens

  let typing = false;
  let typingTimer = null;
  function sendTyping(on) {
    if (!conversationId() || on === typing) return;
    typing = on;
    send({ type: "typing", conversation_id: conversationId(), typing: on });
  }
  document.addEventListener("input", (ev) => {
    if (!ev.target.matches(".composer textarea")) return;
    sendTyping(true);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => sendTyping(false), 5000);
  });

  let visitorTypingTimer = null;
  function renderVisitorTyping(frame) {
    const box = $("#visitor-typing");
    if (!box || frame.conversation_id !== conversationId()) return;
    box.textContent = body.dataset.tVisitorTyping;
    box.classList.toggle("hidden", !frame.typing);
    clearTimeout(visitorTypingTimer);
    // A visitor who closes the tab never says "stopped": the mark fades on its own.
    if (frame.typing) visitorTypingTimer = setTimeout(() => box.classList.add("hidden"), 8000);
  }

  function renderViewers(frame) {
    const box = $("#collision");
    if (!box || frame.conversation_id !== conversationId()) return;
    const me = Number(body.dataset.userId);
    const others = frame.viewers.filter((v) => v.user_id !== me);
    box.classList.toggle("hidden", others.length === 0);
    box.textContent = others
      .map((v) => `${v.name} ${v.typing ? body.dataset.tTyping : body.dataset.tViewing}`)
      .join(" · ");
  }

  // --- keyboard shortcuts ------------------------------------------------------------
  let selectedId = null;
  let pendingG = false;
  function rows() { return $$(".row[data-id]"); }
  function selectRow(row, scroll = true) {
    rows().forEach((r) => r.classList.toggle("selected", r === row));
    if (row) {
      selectedId = row.dataset.id;
      if (scroll) row.scrollIntoView({ block: "nearest" });
    }
  }
  function move(delta) {
    const list = rows();
    if (!list.length) return;
    const index = list.findIndex((r) => r.dataset.id === selectedId);
    const next = list[Math.max(0, Math.min(list.length - 1, index + delta))] || list[0];
    selectRow(next);
  }
  document.addEventListener("keydown", (ev) => {
    const inField = ev.target.closest("input, textarea, select, [contenteditable]");
    if (inField) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && ev.target.form) {
        ev.preventDefault();
        ev.target.form.requestSubmit();
      } else if (ev.key === "Escape") {
        ev.target.blur();
      }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if ($("dialog[open]")) return; // an open dialog has the keyboard: Escape closes it, nothing more
    if (pendingG) {
      pendingG = false;
      if (ev.key === "i") location.href = "/inbox";
      if (ev.key === "c") location.href = "/contacts";
      return;
    }
    switch (ev.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": case "o": {
        const row = $(".row.selected");
        if (row) location.href = row.getAttribute("href");
        break;
      }
      case "r": if ($(".composer")) { ev.preventDefault(); showComposer("reply"); } break;
      case "n": if ($(".composer")) { ev.preventDefault(); showComposer("note"); } break;
      case "a": $("[data-action=assign-me]")?.click(); break;
      case "/": ev.preventDefault(); $("#global-search")?.focus(); break;
      case "g": pendingG = true; setTimeout(() => { pendingG = false; }, 1200); break;
      case "?": $("#shortcuts")?.showModal(); break;
      case "Escape": if (conversationId()) location.href = $("[data-back]")?.getAttribute("href") || "/inbox"; break;
      default: return;
    }
  });

  connect();
})();
