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
    // Read-only fields that hold something to copy (a snippet) select all on a click.
    if (ev.target.matches?.("input[data-select-all]")) ev.target.select();
    // A click outside an open header menu closes it.
    $$("details.agent-state[open], details.usermenu[open]").forEach((menu) => {
      if (!menu.contains(ev.target)) menu.removeAttribute("open");
    });
  });
  // A live refresh replaces the thread: an email the agent opened up stays as they left it (its
  // full text shown; with its remote images allowed, the whole message as it is).
  document.addEventListener("htmx:oobBeforeSwap", (ev) => {
    const { target, fragment } = ev.detail;
    if (target?.id !== "thread" || !fragment?.querySelector) return;
    $$("article.msg.email", target).forEach((old) => {
      const fresh = fragment.querySelector(`#${CSS.escape(old.id)}`);
      if (!fresh) return;
      if (old.hasAttribute("data-images-allowed")) fresh.replaceWith(old);
      else if (old.querySelector("details.email-quote[open]")) fresh.querySelector("details.email-quote")?.setAttribute("open", "");
    });
  });
  // Forms that destroy something ask first (inline handlers are refused by our Content-Security-Policy).
  document.addEventListener("submit", (ev) => {
    const question = ev.target.dataset?.confirm;
    if (question && !window.confirm(question)) ev.preventDefault();
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
      typingSent = false; // a new socket: the server has us as viewing, not typing
      announceView();
      sendTyping(typingNow); // typed before the socket was up (or while it was down)
      readSentUpTo = 0; // the server keeps read marks; sending ours again is harmless
      checkRead();
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
    if (frame.type === "visitor_read") return renderVisitorRead(frame);
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
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }
  function announceView() {
    send({ type: "view", conversation_id: conversationId() });
  }
  setInterval(announceView, 20000); // keeps our "viewing" mark alive in others' screens

  // What the agent is doing, and what the server was last told: typing that starts before the socket
  // is up (or while it is down) goes out once it opens.
  let typingNow = false;
  let typingSent = false;
  let typingTimer = null;
  function sendTyping(on) {
    typingNow = on;
    if (!conversationId() || on === typingSent) return;
    if (send({ type: "typing", conversation_id: conversationId(), typing: on })) typingSent = on;
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

  // --- live chat read receipts ---------------------------------------------------------
  // A chat's messages count as read once they have been on screen (the tab visible, the message
  // scrolled into view) for READ_DWELL ms: the server turns the newest such message into the chat's
  // sequence number and the visitor's widget shows "✓✓ Read". Internal notes never count.
  // The other way, "Seen" goes under the last reply the visitor has had in front of them.
  const READ_DWELL = 1000;
  const onScreenSince = new Map(); // message id -> when it was first seen on screen
  let readSentUpTo = 0;
  let readTimer = null;
  let visitorRead = null;
  const chatVisitor = () => $("#chat-visitor");
  function visibleMessageIds() {
    return $$("#thread article.msg:not(.note)")
      .filter((el) => el.getBoundingClientRect().top < window.innerHeight - 8)
      .map((el) => Number(el.id.replace("message-", "")) || 0)
      .filter((id) => id > 0);
  }
  function checkRead() {
    clearTimeout(readTimer);
    readTimer = null;
    if (!conversationId() || !chatVisitor()) return;
    if (document.visibilityState !== "visible") { onScreenSince.clear(); return; }
    const now = Date.now();
    let newest = 0;
    let next = null;
    for (const id of visibleMessageIds()) {
      if (!onScreenSince.has(id)) onScreenSince.set(id, now);
      const due = onScreenSince.get(id) + READ_DWELL;
      if (due <= now) newest = Math.max(newest, id);
      else next = Math.min(next ?? due, due);
    }
    if (newest > readSentUpTo && send({ type: "read", conversation_id: conversationId(), message_id: newest })) {
      readSentUpTo = newest;
    }
    if (next !== null) readTimer = setTimeout(checkRead, next - now + 20);
  }
  const checkReadSoon = () => { if (!readTimer) readTimer = setTimeout(checkRead, 150); };
  document.addEventListener("visibilitychange", checkRead);
  window.addEventListener("focus", checkReadSoon);
  window.addEventListener("scroll", checkReadSoon, { passive: true });
  window.addEventListener("resize", checkReadSoon);

  function renderVisitorRead(frame) {
    if (frame.conversation_id !== conversationId()) return;
    visitorRead = frame;
    placeSeen();
  }
  function placeSeen() {
    const target = visitorRead && $(`#message-${Number(visitorRead.message_id)}`);
    const marks = $$("#thread .chat-seen");
    if (target && marks.length === 1 && marks[0].parentElement === target) return; // in place already
    marks.forEach((el) => el.remove());
    if (!target) return;
    const mark = document.createElement("div");
    mark.className = "chat-seen muted small";
    mark.textContent = chatVisitor()?.dataset.tSeen || "Seen";
    target.appendChild(mark);
  }
  const thread = $("#thread");
  if (thread) {
    // The thread is re-rendered on every change (a new message, a reply): mark it again, look again.
    new MutationObserver(() => { placeSeen(); checkReadSoon(); }).observe(thread, { childList: true });
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

/* Canned replies in the composer (replies/): the "Canned reply" button, or "/" at the start of an empty
   line, opens a list of the replies this agent may use, searched as they type (arrows move, Enter or
   Tab inserts, Esc closes). The reply is filled in for this conversation by the server (which counts
   the use) and goes in at the cursor: "/refund" typed in the reply box is replaced by it. */
(() => {
  "use strict";
  const composer = document.querySelector(".composer");
  const conversationId = document.querySelector("[data-conversation-id]")?.dataset.conversationId;
  if (!composer || !conversationId || !document.body.dataset.userId) return;
  const t = composer.dataset;
  const make = (tag, props = {}) => Object.assign(document.createElement(tag), props);

  const picker = make("div", { className: "canned-picker hidden" });
  const search = make("input", { type: "search", placeholder: t.tCannedSearch || "", autocomplete: "off" });
  const list = make("ul", { id: "canned-list", className: "canned-list" });
  const none = make("p", { className: "muted small hidden", textContent: t.tCannedNone || "" });
  search.setAttribute("role", "combobox");
  search.setAttribute("aria-label", t.tCannedSearch || "");
  search.setAttribute("aria-controls", list.id);
  search.setAttribute("aria-expanded", "true");
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", t.tCannedSearch || "");
  picker.append(search, list, none);
  composer.append(picker);

  // target: the textarea it inserts into; slashAt: where "/query" starts in slash mode (else -1).
  const state = { target: null, slashAt: -1, items: [], active: 0, seq: 0, loading: false, insertWhenLoaded: false };
  let loadTimer = null;
  const isOpen = () => state.target !== null;

  function open(target, slashAt, query) {
    state.target = target;
    state.slashAt = slashAt;
    search.classList.toggle("hidden", slashAt >= 0); // slash mode: the query is typed in the reply box
    picker.classList.remove("hidden");
    if (slashAt < 0) {
      search.value = "";
      search.focus();
    }
    load(query);
  }
  function close(refocus) {
    const target = state.target;
    state.target = null;
    state.insertWhenLoaded = false;
    picker.classList.add("hidden");
    if (refocus && target) target.focus();
  }
  function load(query, delay = 0) {
    clearTimeout(loadTimer);
    state.loading = true;
    const seq = ++state.seq;
    loadTimer = setTimeout(async () => {
      let items = [];
      try {
        const res = await fetch("/api/v1/canned-replies?q=" + encodeURIComponent(query), {
          headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (res.ok) items = await res.json();
      } catch { /* offline: an empty list says so well enough */ }
      if (seq !== state.seq || !isOpen()) return; // a newer query is on its way, or the list was closed
      state.items = items.slice(0, 50);
      state.active = 0;
      state.loading = false;
      draw();
      if (state.insertWhenLoaded) {
        state.insertWhenLoaded = false;
        if (state.items.length) insert(state.items[0]);
        else close(true);
      }
    }, delay);
  }
  function draw() {
    list.replaceChildren(...state.items.map((item, index) => {
      const option = make("li", { id: "canned-option-" + item.id, className: "canned-option" });
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", String(index === state.active));
      option.append(make("strong", { textContent: item.title }));
      if (item.shortcut) option.append(make("code", { textContent: "/" + item.shortcut }));
      option.append(make("span", { className: "muted small", textContent: item.body.slice(0, 120) }));
      option.addEventListener("mousedown", (ev) => ev.preventDefault()); // keep the focus where it is
      option.addEventListener("click", () => insert(item));
      return option;
    }));
    none.classList.toggle("hidden", state.items.length > 0);
    const active = state.items[state.active];
    if (active) {
      search.setAttribute("aria-activedescendant", "canned-option-" + active.id);
      document.getElementById("canned-option-" + active.id)?.scrollIntoView({ block: "nearest" });
    } else {
      search.removeAttribute("aria-activedescendant");
    }
  }
  function move(delta) {
    if (!state.items.length) return;
    state.active = (state.active + delta + state.items.length) % state.items.length;
    draw();
  }

  async function insert(item) {
    const target = state.target;
    const slashAt = state.slashAt;
    // Where it goes: over "/query" in slash mode, else over the selection (kept while the list had focus).
    const start = slashAt >= 0 ? slashAt : target.selectionStart;
    const end = target.selectionEnd;
    const replaced = target.value.slice(start, end);
    close(false);
    let text = null;
    try {
      const res = await fetch(`/api/v1/canned-replies/${item.id}/render?conversation_id=${conversationId}`, {
        method: "POST", credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRF-Token": document.body.dataset.csrf || "" } });
      if (res.ok) text = (await res.json()).body;
    } catch { /* reported below */ }
    target.focus();
    if (text === null) return failed();
    // Typed on meanwhile: the text goes in at the cursor instead.
    const same = target.value.slice(start, end) === replaced;
    if (same) target.setRangeText(text, start, end, "end");
    else target.setRangeText(text, target.selectionStart, target.selectionEnd, "end");
    target.dispatchEvent(new Event("input", { bubbles: true })); // "is replying" for colleagues
  }
  function failed() {
    const box = document.getElementById("toasts");
    if (!box) return;
    box.replaceChildren(make("div", { className: "toast error", textContent: t.tCannedFailed || "Error" }));
  }

  // The keys of the open list, in the search field or (slash mode) in the reply box.
  function onKey(ev) {
    if (!isOpen() || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const slash = state.slashAt >= 0;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      move(ev.key === "ArrowDown" ? 1 : -1);
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation(); // not the page's Esc (leave the field, back to the inbox)
      close(true);
    } else if (ev.key === "Enter" || (ev.key === "Tab" && slash)) {
      if (state.loading) {
        ev.preventDefault();
        state.insertWhenLoaded = true;
      } else if (state.items.length) {
        ev.preventDefault();
        insert(state.items[state.active]);
      } else if (slash) {
        close(false); // nothing matches: Enter is a new line, Tab moves on
      } else {
        ev.preventDefault();
      }
    }
  }
  search.addEventListener("keydown", onKey);
  search.addEventListener("input", () => load(search.value, 80));

  // "/" at the start of an empty line, then the shortcut (or words of the title): the list follows.
  function slashQuery(box) {
    const caret = box.selectionStart;
    if (caret !== box.selectionEnd) return null;
    const lineStart = box.value.lastIndexOf("\n", caret - 1) + 1;
    const lineEnd = box.value.indexOf("\n", caret);
    const rest = box.value.slice(caret, lineEnd < 0 ? undefined : lineEnd);
    const match = /^\/(\S{0,40})$/.exec(box.value.slice(lineStart, caret));
    return match && !rest.trim() ? { at: lineStart, query: match[1] } : null;
  }
  composer.querySelectorAll("textarea[data-canned]").forEach((box) => {
    box.addEventListener("keydown", (ev) => { if (state.target === box && state.slashAt >= 0) onKey(ev); });
    box.addEventListener("input", (ev) => {
      if (ev.isTrusted === false && !ev.inputType) return; // our own insert
      const found = slashQuery(box);
      if (found && state.target === box && state.slashAt === found.at) load(found.query, 80);
      else if (found) open(box, found.at, found.query);
      else if (state.target === box && state.slashAt >= 0) close(false);
    });
    box.addEventListener("blur", () => { if (state.target === box && state.slashAt >= 0) close(false); });
  });

  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-canned-open]");
    if (button) {
      const box = button.closest("form")?.querySelector("textarea[data-canned]");
      if (box && state.target === box && state.slashAt < 0) close(true);
      else if (box) open(box, -1, "");
      return;
    }
    if (isOpen() && !picker.contains(ev.target)) close(false);
  });
  search.addEventListener("blur", () => {
    setTimeout(() => { if (isOpen() && state.slashAt < 0 && !picker.contains(document.activeElement)) close(false); }, 150);
  });
})();
