/*! Helpline live chat widget. Plain JavaScript, no dependencies. Protocol: docs/subsystems/chat.md */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src || window.__helplineChat) return;
  var KEY = script.getAttribute("data-channel") || "";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(KEY)) return;
  window.__helplineChat = true;
  var BASE = script.src.replace(/\/widget\.js([?#].*)?$/, "");
  var API = BASE + "/widget/v1/channels/" + KEY;
  var WS_URL = BASE.replace(/^http/, "ws") + "/widget/v1/ws?channel=" + encodeURIComponent(KEY);
  var TOKEN_KEY = "helpline-chat:" + KEY;
  var TAB_KEY = "helpline-chat-tab:" + KEY;
  var SEEN_KEY = "helpline-chat-seen:" + KEY;  // the highest seq the visitor has had in front of them (any tab)

  // Every string the visitor can see. Not gettext: this script runs on other people's sites.
  var STRINGS = {
    en: {
      open: "Chat with us", close: "Close chat", online: "We're online", offline: "We're offline",
      answering: "{name} is answering", joined: "{name} joined the chat", left: "{name} left the chat",
      typing: "{name} is typing…", someone: "Someone",
      placeholder: "Write a message…", send: "Send", attach: "Attach a file", emoji: "Insert emoji",
      remove: "Remove {name}", sending: "Sending…", not_sent: "Not sent", sent: "✓ Sent", read: "✓✓ Read",
      reconnecting: "Connection lost. Reconnecting…", unavailable: "Chat is not available on this site.",
      prechat: "Before we start, please tell us who you are.", name: "Your name", email: "Your email",
      optional: "(optional)", start: "Start chat", required: "Please fill in this field.",
      bad_email: "Please enter a valid email address.", leave: "Leave us a message",
      offline_intro: "We're not online right now. Leave a message and we'll answer by email.",
      message: "Message", send_message: "Send message", thanks: "Thank you! We received your message.",
      reference: "Your reference number is #{n}.", reply_to: "We'll reply to {email}.",
      end: "End chat", ended: "The chat has ended.", rate: "How was your chat?", stars: "{n} out of 5",
      comment: "Comment (optional)", send_rating: "Send rating", rated: "Thank you for your feedback!",
      transcript: "Email me the transcript", transcript_sent: "We'll send the transcript to {email}.",
      no_transcript: "Sorry, we can't send transcripts by email from this website.",
      transcript_limit: "You have asked for the transcript several times. Please try again later.",
      new_chat: "Start a new chat", too_large: "This file is too large.",
      bad_type: "This file type is not allowed.", upload_failed: "The file could not be uploaded.",
      too_long: "Your message is too long.", rate_limited: "You are sending messages too quickly. Please wait a moment.",
      failed: "Something went wrong. Please try again.", uploading: "Uploading {name}…", unread: "{n} new messages", unread_one: "1 new message",
      opens: "Back online: {when}."
    },
    de: {
      open: "Chatten Sie mit uns", close: "Chat schließen", online: "Wir sind online", offline: "Wir sind offline",
      answering: "{name} antwortet Ihnen", joined: "{name} ist dem Chat beigetreten", left: "{name} hat den Chat verlassen",
      typing: "{name} schreibt…", someone: "Jemand",
      placeholder: "Nachricht schreiben…", send: "Senden", attach: "Datei anhängen", emoji: "Emoji einfügen",
      remove: "{name} entfernen", sending: "Wird gesendet…", not_sent: "Nicht gesendet", sent: "✓ Gesendet", read: "✓✓ Gelesen",
      reconnecting: "Verbindung unterbrochen. Neuer Versuch…", unavailable: "Der Chat ist auf dieser Website nicht verfügbar.",
      prechat: "Bevor es losgeht: Bitte sagen Sie uns, wer Sie sind.", name: "Ihr Name", email: "Ihre E-Mail-Adresse",
      optional: "(optional)", start: "Chat starten", required: "Bitte füllen Sie dieses Feld aus.",
      bad_email: "Bitte geben Sie eine gültige E-Mail-Adresse ein.", leave: "Hinterlassen Sie uns eine Nachricht",
      offline_intro: "Wir sind gerade nicht online. Hinterlassen Sie eine Nachricht, wir antworten per E-Mail.",
      message: "Nachricht", send_message: "Nachricht senden", thanks: "Vielen Dank! Wir haben Ihre Nachricht erhalten.",
      reference: "Ihre Vorgangsnummer ist #{n}.", reply_to: "Wir antworten an {email}.",
      end: "Chat beenden", ended: "Der Chat wurde beendet.", rate: "Wie war Ihr Chat?", stars: "{n} von 5",
      comment: "Kommentar (optional)", send_rating: "Bewertung senden", rated: "Vielen Dank für Ihr Feedback!",
      transcript: "Verlauf per E-Mail senden", transcript_sent: "Wir senden den Verlauf an {email}.",
      no_transcript: "Leider können wir den Verlauf von dieser Website aus nicht per E-Mail senden.",
      transcript_limit: "Sie haben den Verlauf schon mehrmals angefordert. Bitte versuchen Sie es später erneut.",
      new_chat: "Neuen Chat beginnen", too_large: "Diese Datei ist zu groß.",
      bad_type: "Dieser Dateityp ist nicht erlaubt.", upload_failed: "Die Datei konnte nicht hochgeladen werden.",
      too_long: "Ihre Nachricht ist zu lang.", rate_limited: "Sie senden zu schnell Nachrichten. Bitte warten Sie einen Moment.",
      failed: "Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut.", uploading: "{name} wird hochgeladen…", unread: "{n} neue Nachrichten", unread_one: "1 neue Nachricht",
      opens: "Wieder erreichbar: {when}."
    },
    hu: {
      open: "Csevegjen velünk", close: "Csevegés bezárása", online: "Elérhetők vagyunk", offline: "Most nem vagyunk elérhetők",
      answering: "{name} válaszol", joined: "{name} csatlakozott a csevegéshez", left: "{name} kilépett a csevegésből",
      typing: "{name} éppen ír…", someone: "Valaki",
      placeholder: "Írjon üzenetet…", send: "Küldés", attach: "Fájl csatolása", emoji: "Emoji beszúrása",
      remove: "{name} eltávolítása", sending: "Küldés…", not_sent: "Nem sikerült elküldeni", sent: "✓ Elküldve", read: "✓✓ Olvasva",
      reconnecting: "Megszakadt a kapcsolat. Újracsatlakozás…", unavailable: "A csevegés ezen az oldalon nem érhető el.",
      prechat: "Mielőtt elkezdjük, kérjük, mutatkozzon be.", name: "Az Ön neve", email: "Az Ön e-mail-címe",
      optional: "(nem kötelező)", start: "Csevegés indítása", required: "Kérjük, töltse ki ezt a mezőt.",
      bad_email: "Kérjük, érvényes e-mail-címet adjon meg.", leave: "Hagyjon nekünk üzenetet",
      offline_intro: "Most nem vagyunk elérhetők. Hagyjon üzenetet, e-mailben válaszolunk.",
      message: "Üzenet", send_message: "Üzenet küldése", thanks: "Köszönjük! Megkaptuk az üzenetét.",
      reference: "Az ügy azonosítója: #{n}.", reply_to: "A(z) {email} címre válaszolunk.",
      end: "Csevegés befejezése", ended: "A csevegés véget ért.", rate: "Milyen volt a csevegés?", stars: "{n} / 5",
      comment: "Megjegyzés (nem kötelező)", send_rating: "Értékelés küldése", rated: "Köszönjük a visszajelzést!",
      transcript: "Küldjék el e-mailben a csevegés szövegét", transcript_sent: "A csevegés szövegét elküldjük ide: {email}.",
      no_transcript: "Sajnos erről a webhelyről nem tudjuk e-mailben elküldeni a csevegés szövegét.",
      transcript_limit: "Már többször kérte a csevegés szövegét. Kérjük, próbálja újra később.",
      new_chat: "Új csevegés indítása", too_large: "A fájl túl nagy.",
      bad_type: "Ez a fájltípus nem engedélyezett.", upload_failed: "A fájlt nem sikerült feltölteni.",
      too_long: "Az üzenet túl hosszú.", rate_limited: "Túl gyorsan küld üzeneteket. Kérjük, várjon egy kicsit.",
      failed: "Hiba történt. Kérjük, próbálja újra.", uploading: "{name} feltöltése…", unread: "{n} új üzenet", unread_one: "1 új üzenet",
      opens: "Újra elérhetők leszünk: {when}."
    }
  };
  var EMOJI = "😀 😂 😊 😍 🙂 😉 😢 😮 😅 🤔 🙏 👍 👎 👋 👏 🎉 ❤️ 🔥 ✅ ❌ ⭐ 📎 ☕ 🚀".split(" ");
  var EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

  var lang = "en", S = STRINGS.en;
  var cfg = null, online = false, token = null, ws = null, attempt = 0, retryTimer = 0, pingTimer = 0;
  var connected = false, stopped = false, opened = false, identified = false, hasConversation = false;
  var maxSeq = 0, maxAgentSeq = 0, readSent = 0, unread = 0, seen = {}, pending = {}, typingTimer = 0;
  var typingSentAt = 0, typingStop = 0, pendingFiles = [], view = "", agentName = "", conversationNumber = null, visitorEmail = "";
  var isOpen = true, opensAt = null, invitation = "", inviting = false;  // business hours; a proactive invitation
  var tab = loadTab();  // per tab: unacknowledged messages (resent after a reload), panel open, pre-chat done
  identified = !!tab.identified;

  function t(key, vars) {
    return (S[key] || STRINGS.en[key] || key).replace(/\{(\w+)\}/g, function (_, k) { return vars && k in vars ? vars[k] : ""; });
  }
  function store(kind) { try { return window[kind]; } catch (e) { return null; } }
  function loadTab() {
    var saved = null;
    try { saved = JSON.parse(store("sessionStorage").getItem(TAB_KEY)); } catch (e) { /* none, or not ours */ }
    return saved && Array.isArray(saved.outbox) ? saved : { outbox: [], open: false };
  }
  function saveTab() { try { store("sessionStorage").setItem(TAB_KEY, JSON.stringify(tab)); } catch (e) { /* private mode */ } }

  // h("div", {class: "x", text: "…", onclick: fn}, [children]): text always goes in as textContent.
  function h(tag, attrs, kids) {
    var el = document.createElement(tag);
    for (var k in attrs || {}) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else if (k === "value") el.value = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    (kids || []).forEach(function (c) { if (c) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return el;
  }
  var ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
    clip: "M16.5 6.5l-7.8 7.8a1.5 1.5 0 0 0 2.1 2.1l8-8a3.5 3.5 0 0 0-5-5l-8.2 8.2a5.5 5.5 0 0 0 7.8 7.8l7-7-1.4-1.4-7 7a3.5 3.5 0 0 1-5-5l8.2-8.2a1.5 1.5 0 0 1 2.1 2.1l-8 8-.1.1 1.4 1.4"
  };
  function icon(name) {  // built node by node: no markup parsing anywhere in the widget
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg"), path = document.createElementNS(svg.namespaceURI, "path");
    svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("aria-hidden", "true"); svg.setAttribute("class", "ico");
    path.setAttribute("d", ICONS[name]); svg.appendChild(path);
    return svg;
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
  function safeUrl(url) {
    try { var u = new URL(url, BASE + "/"); return /^https?:$/.test(u.protocol) ? u.href : null; } catch (e) { return null; }
  }
  function pickLanguage(setting) {
    var tries = [setting !== "auto" && setting, document.documentElement.lang, navigator.language, "en"];
    for (var i = 0; i < tries.length; i++) {
      var code = String(tries[i] || "").slice(0, 2).toLowerCase();
      if (STRINGS[code]) return code;
    }
    return "en";
  }

  function request(method, path, body) {
    var init = { method: method, mode: "cors", credentials: "omit" };
    if (body instanceof FormData) init.body = body;
    else if (body) { init.body = JSON.stringify(body); init.headers = { "Content-Type": "text/plain;charset=UTF-8" }; }  // no preflight
    return fetch(API + path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { var err = new Error(data.detail || r.statusText); err.status = r.status; err.field = data.field; throw err; }
        return data;
      });
    });
  }
  var creating = null;
  function ensureToken() {
    var ls = store("localStorage");
    try { token = token || (ls && ls.getItem(TOKEN_KEY)); } catch (e) { /* storage blocked: this page only */ }
    if (token) return Promise.resolve(token);
    creating = creating || request("POST", "/sessions", {}).then(function (data) {
      creating = null;
      try {
        var other = ls && ls.getItem(TOKEN_KEY);  // another tab may have been quicker: share its chat
        token = other || data.token;
        if (ls && !other) ls.setItem(TOKEN_KEY, token);
      } catch (e) { token = data.token; }
      return token;
    }, function (err) { creating = null; throw err; });
    return creating;
  }

  // ---------------------------------------------------------------- the socket
  function connect() {
    if (stopped || (ws && ws.readyState < 2)) return;
    clearTimeout(retryTimer);
    try { ws = new WebSocket(WS_URL); } catch (e) { return retry(); }
    var sock = ws;
    sock.onopen = function () {
      send({ type: "hello", token: token, after: maxSeq, page: { url: location.href, title: document.title },
        language: lang, time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || "" }, sock);
    };
    sock.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string" && handlers[frame.type]) handlers[frame.type](frame);
    };
    sock.onclose = function (ev) {
      if (sock !== ws) return;
      connected = false; ws = null; clearInterval(pingTimer);
      if (ev.code === 4403) { stopped = true; notice(t("unavailable")); return; }
      if (ev.code === 4401) {  // the token is unknown (expired or forged): start over with a new visitor
        token = null;
        try { store("localStorage").removeItem(TOKEN_KEY); } catch (e) { /* nothing stored */ }
        ensureToken().then(connect, retry);
        return;
      }
      notice(opened ? t("reconnecting") : "");
      retry();
    };
  }
  function retry() {
    if (stopped) return;
    clearTimeout(retryTimer);
    var delay = Math.min(30000, 1000 * Math.pow(2, attempt++));
    retryTimer = setTimeout(connect, delay * (0.5 + Math.random() * 0.5));  // jitter: not every visitor at once
  }
  function send(frame, sock) {
    sock = sock || ws;
    if (!sock || sock.readyState !== 1) return false;
    sock.send(JSON.stringify(frame));
    return true;
  }
  function disconnectNow() { if (ws) ws.close(); }  // tests and "online" events use it

  var handlers = {
    welcome: function (f) {
      connected = true; attempt = 0; notice("");
      clearInterval(pingTimer);
      pingTimer = setInterval(function () { send({ type: "ping" }); }, 25000);
      identified = identified || !!(f.session && f.session.identified);
      if (tab.identity && send(tab.identity)) { delete tab.identity; saveTab(); }  // given before the socket was up
      visitorEmail = (f.session && f.session.email) || visitorEmail;
      var number = f.conversation ? f.conversation.number : null;
      if (conversationNumber && number && number !== conversationNumber && maxSeq) {
        // A different conversation numbers its messages from 1 again: start the list over and replay it all.
        conversationNumber = number; resetList(); disconnectNow(); return;
      }
      conversationNumber = number || conversationNumber;
      hasConversation = !!(f.conversation && !/^(solved|closed)$/.test(f.conversation.status));
      if (typeof f.online === "boolean") online = f.online;
      if (typeof f.open === "boolean") isOpen = f.open;
      tab.outbox.forEach(function (m) {  // what the server never acknowledged goes again, same client_id
        if (!pending[m.client_id]) addMessage({ client_id: m.client_id, author: { kind: "visitor" }, text: m.text,
          attachments: m.files || [] }, true);
        sendFrame(m);
      });
      chooseView();
    },
    message: function (f) {
      if (typeof f.seq !== "number") return;
      addMessage(f, false);
      if (f.author && f.author.kind !== "visitor") { hideTyping(); if (!opened && f.seq > seenSeq()) setUnread(unread + 1); }
      hasConversation = true; chooseView(); markRead();
    },
    ack: function (f) { confirm(f.client_id, f.seq); },
    typing: function (f) {
      if (!f.typing) return hideTyping();
      ui.typing.textContent = t("typing", { name: f.name || t("someone") });
      ui.typing.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(hideTyping, 8000);
    },
    agent_joined: function (f) {  // also repeated after every (re)connect: announce changes only
      var name = String(f.name || t("someone"));
      if (name !== agentName && maxSeq) systemLine(t("joined", { name: name }));  // on a reload it is state, not news
      setAgent(name);
    },
    agent_left: function (f) {
      if (agentName) systemLine(t("left", { name: f.name || agentName }));
      setAgent("");
    },
    read: function (f) { markSeen(f.seq); },
    status: function (f) {  // availability changed: agents came or went, or the business hours opened or closed
      online = !!f.online;
      if (typeof f.open === "boolean") { isOpen = f.open; opensAt = f.opens_at || null; }
      var intro = view === "offline" && ui.extra.querySelector(".intro");
      if (intro) intro.textContent = offlineIntro();
      var typed = intro && [].some.call(ui.extra.querySelectorAll("input, textarea"), function (i) { return i.value; });
      setAgent(agentName);
      if (!typed) chooseView();  // a message half-written in the offline form stays in front of the visitor
    },
    ended: function () { hasConversation = false; setAgent(""); hideTyping(); if (view !== "ended") showEnded(); },
    rated: function (f) { if (ending.rated) ending.rated(f); },
    transcript_queued: function (f) { if (ending.transcript_queued) ending.transcript_queued(f); },
    error: function (f) {
      if (f.frame && ending[f.frame]) return ending[f.frame](f);  // the ended view's rating or transcript form
      notice(t(({ too_large: "too_long", rate_limited: "rate_limited" })[f.code] || (f.field === "attachment_ids" ? "upload_failed" : "failed")), true);
      var m = tab.outbox.filter(function (o) { return o.client_id === f.client_id; })[0];
      if (!m) return;
      if (f.code === "rate_limited") {  // not stored: the same message goes again in a moment
        setTimeout(function () { if (tab.outbox.indexOf(m) >= 0) sendFrame(m); }, 4000);
        return;
      }
      tab.outbox.splice(tab.outbox.indexOf(m), 1); saveTab();  // refused for good: say so, never retry
      var row = pending[m.client_id];
      if (row) { row.classList.add("failed"); row.querySelector(".state").textContent = t("not_sent"); delete pending[m.client_id]; }
    },
    pong: function () {}
  };

  // ---------------------------------------------------------------- messages
  function addMessage(f, local) {
    var id = f.client_id, prev = !local && seen[f.seq];
    if (prev) {
      var known = prev.getAttribute("data-id");
      if (known && (f.id == null || known === String(f.id))) return;  // seen already
      if (known) resetList();  // the same number for another message: the chat was merged into another conversation
      else { prev.remove(); delete seen[f.seq]; }  // ours, confirmed by its ack: now the server's full version
    }
    if (!local && id && pending[id]) { pending[id].remove(); delete pending[id]; dropOutbox(id); }
    if (local && pending[id]) return;
    var mine = f.author && f.author.kind === "visitor";
    var kind = mine ? "me" : (f.author && f.author.kind === "system" ? "sys" : "them");
    var row = h("div", { class: "msg " + kind, "data-seq": local ? null : f.seq, "data-cid": id || null, "data-id": local || f.id == null ? null : f.id });
    var name = kind === "them" && f.author && f.author.name ? String(f.author.name) : "";
    var last = ui.list.lastChild;  // a run of messages from one agent carries the name once
    if (name && !(last && last.getAttribute("data-who") === name)) row.appendChild(h("div", { class: "who", text: name }));
    if (name) row.setAttribute("data-who", name);
    var bubble = h("div", { class: "bubble" });
    if (f.text) bubble.appendChild(h("div", { class: "text", text: f.text }));
    (f.attachments || []).forEach(function (a) {
      var url = safeUrl(a.url);
      if (url && /^image\/(png|jpeg|gif|webp)$/.test(a.content_type || "")) {  // a thumbnail; a site's CSP may refuse it: then the link alone
        var img = h("img", { src: url, alt: "", loading: "lazy", onerror: function () { img.parentNode.remove(); } });
        bubble.appendChild(h("a", { class: "thumb", href: url, target: "_blank", rel: "noopener noreferrer", tabindex: "-1", "aria-hidden": "true" }, [img]));
      }
      bubble.appendChild(url
        ? h("a", { class: "file", href: url, target: "_blank", rel: "noopener noreferrer" }, [icon("clip"), a.name || "file"])
        : h("span", { class: "file" }, [icon("clip"), a.name || "file"]));
    });
    row.appendChild(bubble);
    var meta = h("div", { class: "meta" });
    var at = f.at ? new Date(f.at) : new Date();
    if (!isNaN(at)) meta.appendChild(h("span", { text: at.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" }) }));
    if (mine) meta.appendChild(h("span", { class: "state", text: local ? t("sending") : t("sent") }));
    if (kind !== "sys") row.appendChild(meta);
    if (local) { pending[id] = row; row.classList.add("sending"); ui.list.appendChild(row); }
    else {
      seen[f.seq] = row; maxSeq = Math.max(maxSeq, f.seq);
      if (kind === "them") maxAgentSeq = Math.max(maxAgentSeq, f.seq);
      place(row, f.seq);
    }
    scrollDown();
  }
  function dropOutbox(clientId) {
    tab.outbox = tab.outbox.filter(function (m) { return m.client_id !== clientId; });
    saveTab();
  }
  function confirm(clientId, seq) {
    var row = pending[clientId];
    dropOutbox(clientId);
    if (!row || typeof seq !== "number") return;
    delete pending[clientId];
    if (seen[seq]) {
      if (seen[seq].getAttribute("data-cid") === clientId) { row.remove(); return; }  // came in already (a replay)
      resetList(); disconnectNow(); return;  // numbers start again: a new conversation; replay it whole
    }
    row.classList.remove("sending");
    row.setAttribute("data-seq", seq);
    row.querySelector(".state").textContent = t("sent");
    seen[seq] = row; maxSeq = Math.max(maxSeq, seq);
    place(row, seq);
  }
  // Confirmed messages stand in seq order, before anything still sending.
  function place(row, seq) {
    var before = null;
    for (var el = ui.list.firstChild; el; el = el.nextSibling) {
      if (el === row) continue;
      var s = +el.getAttribute("data-seq");
      if ((s && s > seq) || el.classList.contains("sending")) { before = el; break; }
    }
    ui.list.insertBefore(row, before);
  }
  function resetList() {  // messages still sending stay, at the end
    clear(ui.list); seen = {}; maxSeq = maxAgentSeq = readSent = 0;
    var g = greeting(); if (g) ui.list.appendChild(g);
    for (var id in pending) ui.list.appendChild(pending[id]);
  }
  function markSeen(upTo) {
    var mine = ui.list.querySelectorAll(".msg.me[data-seq]"), last = null;
    for (var i = 0; i < mine.length; i++) {
      mine[i].classList.remove("read");
      var state = mine[i].querySelector(".state");
      if (state) state.textContent = t("sent");
      if (+mine[i].getAttribute("data-seq") <= upTo) last = mine[i];
    }
    if (last) { last.classList.add("read"); last.querySelector(".state").textContent = t("read"); }
  }
  function systemLine(text) { ui.list.appendChild(h("div", { class: "msg sys" }, [h("div", { class: "bubble", text: text })])); scrollDown(); }
  function hideTyping() { ui.typing.hidden = true; }
  function scrollDown() { ui.list.scrollTop = ui.list.scrollHeight; }
  function seenSeq() { try { return +store("localStorage").getItem(SEEN_KEY) || 0; } catch (e) { return 0; } }
  function markRead() {
    if (!opened || document.hidden) return;
    try { if (maxSeq > seenSeq()) store("localStorage").setItem(SEEN_KEY, String(maxSeq)); } catch (e) { /* private mode */ }
    if (maxAgentSeq <= readSent) return;
    if (send({ type: "read", seq: maxAgentSeq })) readSent = maxAgentSeq;
  }
  function setUnread(n) {
    unread = n;
    ui.badge.textContent = n > 9 ? "9+" : String(n);
    ui.badge.hidden = !n;
    ui.launcher.setAttribute("aria-label", n ? t("open") + " — " + t(n === 1 ? "unread_one" : "unread", { n: n }) : t("open"));
  }
  function setAgent(name) {
    agentName = name || "";
    ui.subText.textContent = agentName ? t("answering", { name: agentName }) : t(online ? "online" : "offline");
    ui.panel.classList.toggle("off", !online && !agentName);
  }
  function notice(text, transient) {
    ui.notice.textContent = text || "";
    ui.notice.hidden = !text;
    if (transient) setTimeout(function () { if (ui.notice.textContent === text) ui.notice.hidden = true; }, 6000);
  }

  function sendMessage() {
    var text = ui.input.value.replace(/^\s+|\s+$/g, "");
    var files = pendingFiles.filter(function (f) { return f.id; });
    if (!text && !files.length) return;
    if (text.length > 5000) { notice(t("too_long"), true); return; }
    var clientId = Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
    var m = { client_id: clientId, text: text, attachment_ids: files.map(function (f) { return f.id; }),
      files: files.map(function (f) { return { name: f.name }; }) };
    tab.outbox.push(m); saveTab();
    addMessage({ client_id: clientId, author: { kind: "visitor" }, text: text, attachments: m.files }, true);
    ui.input.value = ""; pendingFiles = pendingFiles.filter(function (f) { return !f.id; }); renderFiles(); autosize();
    stopTyping();
    sendFrame(m);
    ui.input.focus();
  }
  function sendFrame(m) {  // before "welcome" it waits in the outbox: welcome sends it
    if (connected) send({ type: "message", client_id: m.client_id, text: m.text, attachment_ids: m.attachment_ids || [] });
  }
  function onType() {
    autosize();
    var now = Date.now();
    if (now - typingSentAt > 3000 && ui.input.value && send({ type: "typing", typing: true })) typingSentAt = now;
    clearTimeout(typingStop);
    typingStop = setTimeout(stopTyping, 2500);
  }
  function stopTyping() {
    clearTimeout(typingStop);
    if (typingSentAt) { typingSentAt = 0; send({ type: "typing", typing: false }); }
  }
  function autosize() { ui.input.style.height = "auto"; ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + "px"; }

  function upload(file) {
    var max = cfg.upload && cfg.upload.max_bytes;
    if (max && file.size > max) { notice(t("too_large"), true); return; }  // said at once, not after sending it all
    var item = { name: file.name, id: 0 };
    pendingFiles.push(item); renderFiles();
    ensureToken().then(function () {
      var body = new FormData();
      body.append("token", token); body.append("file", file);
      return request("POST", "/upload", body);
    }).then(function (data) { item.id = data.attachment_id; item.name = data.name || item.name; renderFiles(); }, function (err) {
      pendingFiles = pendingFiles.filter(function (f) { return f !== item; }); renderFiles();
      var why = String(err.message || "");  // 413 / 415, or a 4xx whose detail says which
      notice(t(err.status === 413 || /large|size|big/i.test(why) ? "too_large"
        : err.status === 415 || /type/i.test(why) ? "bad_type" : "upload_failed"), true);
    });
  }
  function renderFiles() {
    clear(ui.files);
    pendingFiles.forEach(function (f) {
      ui.files.appendChild(h("span", { class: "chip" + (f.id ? "" : " busy") }, [
        f.id ? icon("clip") : null, f.id ? f.name : t("uploading", { name: f.name }),
        h("button", { type: "button", class: "x", "aria-label": t("remove", { name: f.name }), text: "×",
          onclick: function () { pendingFiles = pendingFiles.filter(function (o) { return o !== f; }); renderFiles(); } })
      ]));
    });
    ui.files.hidden = !pendingFiles.length;
  }

  // ---------------------------------------------------------------- views
  function chooseView() {
    if (!cfg) return;
    ui.endBtn.hidden = !(maxSeq || tab.outbox.length) || view === "ended" || view === "thanks";
    if (view === "thanks" || view === "ended") return;
    var talked = hasConversation || maxSeq > 0 || tab.outbox.length > 0;
    if (!online && !talked) return showOffline();
    var p = cfg.prechat || {};
    if (!talked && !identified && (p.name === "required" || p.email === "required" || p.name === "optional" || p.email === "optional")) {
      return showPrechat();
    }
    showChat();
  }
  function setView(name, node) {
    view = name;
    ui.endBtn.hidden = name !== "chat" || !(maxSeq || tab.outbox.length);
    ui.panel.setAttribute("data-view", name);
    clear(ui.extra);
    if (node) ui.extra.appendChild(node);
    ui.chat.hidden = name !== "chat";
    ui.extra.hidden = name === "chat";
  }
  function field(name, label, type, rule, multiline) {
    var id = "hl-" + name, err = h("div", { class: "err", id: id + "-err", hidden: true });
    var input = h(multiline ? "textarea" : "input", { id: id, name: name, type: multiline ? null : type, rows: multiline ? 4 : null,
      autocomplete: name === "message" ? "off" : name, maxlength: multiline ? 5000 : 320, required: rule === "required",
      "aria-describedby": id + "-err" });
    var node = h("div", { class: "field" }, [
      h("label", { for: id }, [label, rule === "optional" ? h("span", { class: "opt", text: " " + t("optional") }) : null]),
      input, err]);
    node.check = function () {
      var v = input.value.trim(), msg = "";
      if (rule === "required" && !v) msg = t("required");
      else if (v && type === "email" && !EMAIL_RE.test(v)) msg = t("bad_email");
      node.fail(msg);
      return !msg;
    };
    node.fail = function (msg) {
      err.textContent = msg || ""; err.hidden = !msg;
      if (msg) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    };
    node.input = input;
    return node;
  }
  function form(fields, button, onsubmit, intro) {
    var btn = h("button", { type: "submit", class: "primary", text: button });
    var f = h("form", { class: "form", novalidate: true, onsubmit: function (ev) {
      ev.preventDefault();
      var ok = fields.map(function (x) { return x.check(); }).every(Boolean);
      if (!ok) { for (var i = 0; i < fields.length; i++) if (fields[i].input.getAttribute("aria-invalid")) { fields[i].input.focus(); break; } return; }
      onsubmit(btn);
    } }, [intro ? h("p", { class: "intro", text: intro }) : null].concat(fields, [btn]));
    return f;
  }
  function showPrechat() {
    if (view === "prechat") return;
    var p = cfg.prechat || {}, fields = [];
    if (p.name && p.name !== "off") fields.push(field("name", t("name"), "text", p.name));
    if (p.email && p.email !== "off") fields.push(field("email", t("email"), "email", p.email));
    setView("prechat", h("div", {}, [greeting(), form(fields, t("start"), function () {
      var v = {};
      fields.forEach(function (f) { v[f.input.name] = f.input.value.trim(); });
      if (v.name || v.email) {
        var frame = { type: "identify", name: v.name || "", email: v.email || "" };
        if (!send(frame)) { tab.identity = frame; saveTab(); }
      }
      visitorEmail = v.email || visitorEmail;
      identified = tab.identified = true; saveTab(); showChat(); ui.input.focus();
    }, t("prechat"))]));
    focusFirst();
  }
  function showOffline() {
    if (view === "offline") return;
    var p = cfg.prechat || {};
    var fields = [field("name", t("name"), "text", p.name === "required" ? "required" : "optional"),
      field("email", t("email"), "email", "required"), field("message", t("message"), "text", "required", true)];
    var intro = offlineIntro();
    setView("offline", h("div", {}, [h("h2", { class: "h", text: t("leave") }), form(fields, t("send_message"), function (btn) {
      var v = {};
      fields.forEach(function (f) { v[f.input.name] = f.input.value.trim(); f.fail(""); });
      btn.disabled = true;
      ensureToken().then(function () {
        return request("POST", "/offline", { token: token, name: v.name, email: v.email, message: v.message });
      }).then(function (data) {
        setView("thanks", h("div", { class: "done", role: "status" }, [
          h("div", { class: "big", text: "✉️" }), h("p", { class: "h", text: t("thanks") }),
          h("p", { class: "ref", text: t("reference", { n: data.conversation_number }) }),
          h("p", { text: t("reply_to", { email: v.email }) })]));
      }, function (err) {
        btn.disabled = false;
        var target = fields.filter(function (f) { return f.input.name === err.field; })[0];
        if (target) { target.fail(err.message); target.input.focus(); } else notice(t("failed"), true);
      });
    }, intro)]));
    focusFirst();
  }
  // The ended view's forms, told how the server took them ("rated", "transcript_queued", or an error naming the frame).
  var ending = {};
  function showEnded() {
    stopTyping();
    var score = 0, stars = [];
    var comment = h("textarea", { id: "hl-comment", rows: 2, maxlength: 2000 });
    var rateBox = h("div", { class: "stars", role: "radiogroup", "aria-label": t("rate") });
    for (var n = 1; n <= 5; n++) {
      (function (n) {
        var b = h("button", { type: "button", class: "star", role: "radio", "aria-checked": "false", "aria-label": t("stars", { n: n }),
          text: "★", onclick: function () {
            score = n;
            stars.forEach(function (s, i) { s.classList.toggle("on", i < n); s.setAttribute("aria-checked", i === n - 1 ? "true" : "false"); });
          } });
        stars.push(b); rateBox.appendChild(b);
      })(n);
    }
    var rateBtn = h("button", { type: "submit", class: "primary", text: t("send_rating") }), mailBtn = null;
    var rating = h("form", { class: "form", onsubmit: function (ev) {
      ev.preventDefault();
      if (!score) { stars[0].focus(); return; }
      if (!send({ type: "rate", score: score, comment: comment.value.trim().slice(0, 2000) })) return notice(t("failed"), true);
      rateBtn.disabled = true;
    } }, [h("p", { class: "h", text: t("rate") }), rateBox,
      h("label", { for: "hl-comment", text: t("comment") }), comment, rateBtn]);
    var mail = field("transcript-email", t("email"), "email", "required");
    mail.input.value = visitorEmail;
    var transcript = form([mail], t("transcript"), function (btn) {
      if (!send({ type: "transcript", email: mail.input.value.trim() })) return notice(t("failed"), true);
      mailBtn = btn; btn.disabled = true;
    });
    function done(box, text, role) { clear(box); box.appendChild(h("p", { class: role === "alert" ? "err" : "ok", role: role, text: text })); }
    ending = {
      rated: function () { done(rating, t("rated"), "status"); },
      rate: function () { rateBtn.disabled = false; notice(t("failed"), true); },
      transcript_queued: function (f) { done(transcript, t("transcript_sent", { email: f.email || mail.input.value.trim() }), "status"); },
      transcript: function (f) {
        if (mailBtn) mailBtn.disabled = false;
        if (f.code === "not_available") return done(transcript, t("no_transcript"), "alert");
        mail.fail(t(f.field === "email" && f.code === "invalid" ? "bad_email" : f.code === "rate_limited" ? "transcript_limit" : "failed"));
        mail.input.focus();
      }
    };
    setView("ended", h("div", {}, [h("p", { class: "ended", text: t("ended") }), rating, transcript,
      h("button", { type: "button", class: "link", text: t("new_chat"), onclick: function () {
        view = ""; setAgent(""); chooseView(); ui.input.focus();
      } })]));
    focusFirst();
  }
  function showChat() { if (view !== "chat") setView("chat"); }
  function greeting() {  // an invitation's greeting stands in for the channel's
    var text = invitation || cfg.greeting;
    return text ? h("div", { class: invitation ? "greet invite" : "greet", text: text }) : null;
  }
  function offlineIntro() {  // outside business hours: the hours message, and when we are back
    var text = (!isOpen && cfg.hours_message) || cfg.offline_message || t("offline_intro");
    var when = !isOpen && opensAt ? new Date(opensAt) : null;
    if (!when || isNaN(when)) return text;
    var far = when - Date.now() > 6 * 864e5, o = { weekday: "long", hour: "2-digit", minute: "2-digit" };
    if (far) { o.day = "numeric"; o.month = "long"; }
    return text + " " + t("opens", { when: when.toLocaleString(lang, o) });
  }
  function focusFirst() {
    if (!opened) return;
    var el = ui.extra.querySelector("input, textarea, button");
    if (el) el.focus();
  }

  function open(invited) {
    if (opened) return;
    opened = tab.open = true; saveTab();
    ui.panel.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "true");
    setUnread(0);
    // An invitation neither takes the focus from the page nor makes a visitor session until the visitor acts.
    if (invited !== true) { wake(); if (view === "chat") ui.input.focus(); else focusFirst(); }
    markRead();
  }
  function wake() {
    if (!token || !ws) ensureToken().then(function () { connect(); }, function () { notice(t("failed"), true); });
  }
  // ---------------------------------------------------------------- proactive invitations
  function chatting() { return hasConversation || maxSeq > 0 || tab.outbox.length > 0; }
  // Rule syntax (docs/subsystems/chat.md): "*" = any characters over the whole address; "/…" = the path starts so;
  // "https://…" = the address starts so. Case is ignored.
  function pageMatches(pattern, url) {
    var p = String(pattern || "").toLowerCase(), u = url.toLowerCase();
    if (p.indexOf("*") >= 0) {
      return new RegExp("^" + p.split("*").map(function (s) { return s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"); }).join(".*") + "$").test(u);
    }
    return (p.charAt(0) === "/" ? location.pathname.toLowerCase() : u).indexOf(p) === 0;
  }
  var planned = null;  // the timer of the invitation planned for this page
  function planInvitation() {
    if (planned) { clearInterval(planned); planned = null; }  // the visitor left the page it was for
    var url = location.href.split("#")[0], rules = Array.isArray(cfg.invitations) ? cfg.invitations : [], rule = null;
    for (var i = 0; i < rules.length && !rule; i++) if (rules[i] && pageMatches(rules[i].url, url)) rule = rules[i];
    var id = rule && rule.url + "\n" + rule.greeting;
    if (!rule || tab.declined || (tab.invited || []).indexOf(id) >= 0) return;
    var need = Math.max(0, +rule.seconds || 0) * 1000, spent = 0, last = Date.now();
    var timer = planned = setInterval(function () {  // counts only the time the page is in view
      var now = Date.now();
      if (!document.hidden) spent += now - last;
      last = now;
      if (spent < need || (token && !connected)) return;  // a returning visitor: first learn whether they chat already
      clearInterval(timer); if (planned === timer) planned = null;
      invite(rule.greeting, id);
    }, 250);
  }
  // Single-page sites change the address with history.pushState, which fires no event; the widget
  // looks once a second rather than patch the site's history object. The agent sees the new page,
  // and the invitation rules are matched again (its time counts from the new page).
  var shownUrl = location.href;
  function pageChanged() {
    if (location.href === shownUrl) return;
    var samePage = location.href.split("#")[0] === shownUrl.split("#")[0];
    shownUrl = location.href;
    send({ type: "page", url: location.href, title: document.title });
    if (!samePage) planInvitation();
  }
  function invite(text, id) {  // once per rule and visit; never while offline, chatting, or after one was closed
    if (opened || !online || chatting() || tab.declined) return;
    tab.invited = (tab.invited || []).concat([id]); saveTab();
    invitation = String(text || ""); inviting = true;
    var old = ui.list.querySelector(".greet"), g = greeting();
    if (old) ui.list.replaceChild(g, old); else ui.list.insertBefore(g, ui.list.firstChild);
    if (view === "prechat") { view = ""; chooseView(); }
    open(true);
  }
  function close() {
    if (inviting && !chatting()) tab.declined = true;  // no more invitations in this visit
    inviting = false;
    opened = tab.open = false; saveTab();
    ui.panel.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.focus();
  }

  // ---------------------------------------------------------------- the DOM
  var CSS = ":host{all:initial!important;display:block!important;position:static!important}" +
    ".hl{all:initial;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1d2330;-webkit-font-smoothing:antialiased}" +
    "*{box-sizing:border-box;font:inherit;color:inherit;letter-spacing:normal;text-transform:none}" +
    "[hidden]{display:none!important}" +
    "button{cursor:pointer;border:0;background:none;margin:0;padding:0}" +
    "button:focus-visible,a:focus-visible,input:focus-visible,textarea:focus-visible{outline:2px solid var(--c);outline-offset:2px}" +
    ".launch{position:fixed;bottom:20px;width:60px;height:60px;border-radius:50%;background:var(--c);color:var(--fg);z-index:2147483000;" +
    "box-shadow:0 6px 20px rgba(0,0,0,.22);display:flex;align-items:center;justify-content:center;transition:transform .15s}" +
    ".launch:hover{transform:scale(1.06)}.ico{width:18px;height:18px;fill:currentColor;flex:none}.launch .ico{width:28px;height:28px}" +
    ".badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;border-radius:10px;background:#e0344b;color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center;padding:0 5px}" +
    ".panel{position:fixed;bottom:92px;width:370px;height:min(600px,calc(100vh - 112px));background:#fff;border-radius:16px;z-index:2147483000;" +
    "box-shadow:0 12px 40px rgba(20,25,40,.25);display:flex;flex-direction:column;overflow:hidden}" +
    ".right{right:20px}.left{left:20px}" +
    "header{background:var(--c);color:var(--fg);padding:14px 14px 14px 18px;display:flex;align-items:center;gap:8px}" +
    "header .t{flex:1;min-width:0}h2.title{margin:0;font-size:16px;font-weight:700;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}" +
    ".sub{font-size:12.5px;opacity:.9;display:flex;align-items:flex-start;gap:6px;margin-top:1px}" +
    ".sub:before{content:'';flex:none;width:8px;height:8px;margin-top:5px;border-radius:50%;background:#39d98a}" +
    ".off .sub:before{background:#c3c8d2}" +
    "header button{color:var(--fg);border-radius:8px;padding:6px 8px;font-size:13px;white-space:nowrap}header button:hover{background:rgba(255,255,255,.18)}" +
    "header .endb{font-size:12px;padding:4px 9px;border:1px solid currentColor;border-radius:999px;opacity:.85}" +
    "header .xbtn{font-size:22px;line-height:1;padding:2px 8px}" +
    ".notice{background:#fff4d6;color:#6b4f00;font-size:13px;padding:8px 14px;border-bottom:1px solid #f0e0b0}" +
    ".chat{flex:1;display:flex;flex-direction:column;min-height:0}" +
    ".list{flex:1;overflow-y:auto;padding:16px 14px 6px;background:#f6f7fb;display:flex;flex-direction:column;gap:8px}" +
    ".greet{background:#fff;border:1px solid #e6e8ef;border-radius:12px;padding:10px 12px;color:#3a4152;white-space:pre-wrap}.invite{border-color:var(--c)}" +
    ".msg{display:flex;flex-direction:column;max-width:82%}.msg.me{align-self:flex-end;align-items:flex-end}" +
    ".msg.them{align-self:flex-start}.msg.sys{align-self:center;max-width:95%}" +
    ".who{font-size:12px;color:#6b7385;margin:0 0 2px 4px}" +
    ".bubble{padding:8px 12px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}" +
    ".me .bubble{background:var(--c);color:var(--fg);border-bottom-right-radius:5px}" +
    ".them .bubble{background:#fff;border:1px solid #e6e8ef;border-bottom-left-radius:5px}" +
    ".sys .bubble{background:none;color:#6b7385;font-size:12.5px;padding:2px 8px;text-align:center}" +
    ".sending .bubble{opacity:.65}.failed .bubble{background:#fbe3e6;color:#8c1d2c}.failed .state{color:#b81f34}" +
    ".thumb{display:block;margin-top:4px}.thumb img{display:block;max-width:100%;max-height:180px;border-radius:10px}" +
    ".file{display:flex;align-items:center;gap:4px;margin-top:4px;text-decoration:underline;color:inherit}.file .ico,.chip .ico{width:14px;height:14px}" +
    ".meta{font-size:11px;color:#8a91a1;margin:2px 4px 0;display:flex;gap:6px}.read .state{color:#1f8f5f;font-weight:600}" +
    ".typing{font-size:12.5px;color:#6b7385;padding:4px 16px 6px;background:#f6f7fb;font-style:italic}" +
    ".compose{border-top:1px solid #e6e8ef;padding:8px 10px;background:#fff;position:relative}" +
    ".row{display:flex;align-items:flex-end;gap:4px}" +
    "textarea.in{flex:1;resize:none;border:0;outline:0;padding:9px 6px;min-height:38px;max-height:120px;background:transparent;font-size:14px}" +
    ".icon{width:36px;height:36px;border-radius:8px;font-size:18px;color:#6b7385;display:flex;align-items:center;justify-content:center}" +
    ".icon:hover{background:#f0f2f7}.send{background:var(--c);color:var(--fg);border-radius:10px;padding:9px 14px;font-weight:600}" +
    ".emoji{position:absolute;bottom:54px;left:10px;background:#fff;border:1px solid #e6e8ef;border-radius:12px;box-shadow:0 6px 20px rgba(0,0,0,.12);" +
    "padding:6px;display:grid;grid-template-columns:repeat(8,32px);gap:2px}" +
    ".emoji button{font-size:20px;width:32px;height:32px;border-radius:6px}.emoji button:hover{background:#f0f2f7}" +
    ".files{display:flex;flex-wrap:wrap;gap:6px;padding:2px 4px 6px}" +
    ".chip{background:#eef0f6;border-radius:12px;padding:3px 4px 3px 10px;font-size:12.5px;display:flex;align-items:center;gap:4px}" +
    ".chip.busy{opacity:.7}.chip .x{font-size:15px;width:20px;height:20px;border-radius:50%}" +
    ".extra{flex:1;overflow-y:auto;padding:18px}" +
    ".form{display:flex;flex-direction:column;gap:12px;margin:0 0 18px}.form+.form{border-top:1px solid #eceef3;padding-top:16px}.intro,.ended{margin:0;color:#3a4152}" +
    ".h{font-size:16px;font-weight:700;margin:0}.field{display:flex;flex-direction:column;gap:4px}" +
    "label{font-size:13px;font-weight:600;color:#3a4152}.opt{font-weight:400;color:#8a91a1}" +
    ".form input,.form textarea{border:1px solid #cfd4df;border-radius:10px;padding:9px 11px;font-size:14px;background:#fff;width:100%}" +
    ".form textarea{resize:vertical}[aria-invalid]{border-color:#d2293f!important}.err{color:#b81f34;font-size:12.5px}" +
    ".primary{background:var(--c);color:var(--fg);border-radius:10px;padding:11px 14px;font-weight:600}.primary:disabled{opacity:.6}" +
    ".link{color:var(--c);text-decoration:underline;font-weight:600}" +
    ".stars{display:flex;gap:4px}.star{font-size:30px;color:#d5d9e2;line-height:1}.star.on{color:#f5b301}" +
    ".ok{color:#1f7a50;font-weight:600;margin:0}.done{text-align:center;padding-top:30px}.big{font-size:42px}.ref{font-size:15px;font-weight:700}" +
    "@media (max-width:480px){.panel{left:0;right:0;bottom:0;width:100%;height:100%;border-radius:0}.panel:not([hidden])~.launch{display:none}}";

  var ui = {};
  function build() {
    var colour = /^#[0-9a-fA-F]{6}$/.test(cfg.colour || "") ? cfg.colour : "#2f6fed";
    var rgb = [1, 3, 5].map(function (i) { return parseInt(colour.substr(i, 2), 16); });
    var light = (rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114) / 1000 > 160;  // dark text on light brand colours
    var side = cfg.position === "left" ? "left" : "right";
    var host = document.createElement("helpline-chat");
    var root = host.attachShadow({ mode: "open" });
    try {  // a constructed style sheet works under a site's strict CSP (style-src without 'unsafe-inline')
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) { root.appendChild(h("style", { text: CSS })); }
    var wrap = h("div", { class: "hl", lang: lang });
    wrap.style.setProperty("--c", colour);
    wrap.style.setProperty("--fg", light ? "#1d2330" : "#fff");
    root.appendChild(wrap);

    ui.badge = h("span", { class: "badge", hidden: true, "aria-hidden": "true" });
    ui.launcher = h("button", { type: "button", class: "launch " + side, "aria-label": t("open"), "aria-expanded": "false",
      "aria-controls": "hl-panel", onclick: function () { if (opened) close(); else open(); } });
    ui.launcher.appendChild(icon("chat"));
    ui.launcher.appendChild(ui.badge);

    ui.title = h("h2", { class: "title", id: "hl-title", text: cfg.name || "" });
    ui.subText = h("span", {});
    ui.sub = h("div", { class: "sub" }, [ui.subText]);
    ui.endBtn = h("button", { type: "button", class: "endb", text: t("end"), onclick: function () {
      if (maxSeq || tab.outbox.length) { send({ type: "end" }); hasConversation = false; showEnded(); }
    } });
    ui.notice = h("div", { class: "notice", role: "status", hidden: true });
    ui.list = h("div", { class: "list", role: "log", "aria-live": "polite", "aria-labelledby": "hl-title" }, []);
    var g = greeting(); if (g) ui.list.appendChild(g);
    ui.typing = h("div", { class: "typing", hidden: true, "aria-live": "polite" });
    ui.input = h("textarea", { class: "in", rows: 1, maxlength: 5000, placeholder: t("placeholder"), "aria-label": t("placeholder"),
      oninput: onType, onkeydown: function (ev) { if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendMessage(); } } });
    ui.emoji = h("div", { class: "emoji", hidden: true, role: "menu", "aria-label": t("emoji") }, EMOJI.map(function (e) {
      return h("button", { type: "button", role: "menuitem", text: e, onclick: function () { insertEmoji(e); } });
    }));
    ui.file = h("input", { type: "file", hidden: true, onchange: function () {
      Array.prototype.forEach.call(ui.file.files, upload); ui.file.value = "";
    } });
    ui.files = h("div", { class: "files", hidden: true });
    var emojiBtn = h("button", { type: "button", class: "icon", "aria-label": t("emoji"), "aria-haspopup": "true", text: "😊",
      onclick: function () { ui.emoji.hidden = !ui.emoji.hidden; } });
    ui.chat = h("div", { class: "chat" }, [ui.list, ui.typing, h("div", { class: "compose" }, [ui.emoji, ui.files, h("div", { class: "row" }, [
      emojiBtn, h("button", { type: "button", class: "icon", "aria-label": t("attach"), onclick: function () { ui.file.click(); } }, [icon("clip")]),
      ui.input, h("button", { type: "button", class: "send", text: t("send"), onclick: sendMessage }), ui.file])])]);
    ui.extra = h("div", { class: "extra", hidden: true });
    ui.panel = h("div", { class: "panel " + side, id: "hl-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "hl-title", hidden: true,
      onfocusin: function () { if (!token) wake(); },  // an invited visitor starts to act
      onkeydown: function (ev) {
        if (ev.key !== "Escape") return;
        if (!ui.emoji.hidden) { ui.emoji.hidden = true; emojiBtn.focus(); } else close();
      } }, [
      h("header", {}, [h("div", { class: "t" }, [ui.title, ui.sub]), ui.endBtn,
        h("button", { type: "button", class: "xbtn", "aria-label": t("close"), text: "×", onclick: close })]),
      ui.notice, ui.chat, ui.extra]);
    wrap.appendChild(ui.panel);
    wrap.appendChild(ui.launcher);
    document.body.appendChild(host);
    ui.host = host;
  }
  function insertEmoji(e) {
    var i = ui.input, at = i.selectionStart || i.value.length;
    i.value = i.value.slice(0, at) + e + i.value.slice(i.selectionEnd || at);
    i.selectionStart = i.selectionEnd = at + e.length;
    ui.emoji.hidden = true; i.focus(); onType();
  }

  function start() {
    request("GET", "/config").then(function (data) {
      cfg = data.channel || {};
      online = !!data.online;
      isOpen = data.open !== false; opensAt = data.opens_at || null;
      lang = pickLanguage(cfg.language || "auto"); S = STRINGS[lang];
      build();
      setAgent(""); chooseView();
      var known = store("localStorage") && store("localStorage").getItem(TOKEN_KEY);
      if (known || tab.outbox.length) ensureToken().then(connect, retry);  // a returning visitor: catch up at once
      if (tab.open) open();
      planInvitation();
      window.addEventListener("online", function () { attempt = 0; if (!connected) connect(); });
      window.addEventListener("storage", function (ev) {  // another tab created the visitor token: join that chat
        if (ev.key === TOKEN_KEY && ev.newValue && ev.newValue !== token) { token = ev.newValue; disconnectNow(); }
      });
      document.addEventListener("visibilitychange", markRead);
      window.addEventListener("popstate", pageChanged); window.addEventListener("hashchange", pageChanged);
      setInterval(pageChanged, 1000);
      window.HelplineChat = { open: open, close: close, disconnect: disconnectNow };
    }, function (err) {
      if (window.console) console.warn("Helpline chat: the channel could not be loaded (" + (err.status || err.message) + ")");
    });
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
