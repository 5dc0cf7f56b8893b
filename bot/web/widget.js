/*!
 * Pain clinic chat widget: a chat bubble for the clinic's patient assistant.
 *
 * Embed it with one tag (no build step):
 *   <script src="https://ASSISTANT-SERVER/webhooks/web/widget.js"
 *           data-title="Questions about your treatment?"
 *           data-accent="#0b5e86" defer></script>
 *
 * data-server   the Rasa server (default: where this script comes from)
 * data-title    the title at the top of the chat (default "Ask about pain treatments")
 * data-accent   the clinic's colour, any CSS hex colour; darkened if needed so that
 *               white text on it stays readable (WCAG AA)
 * data-open     "true" opens the chat when the page loads
 * data-storage  "session" (default: the chat ends when the tab closes) or "local"
 * data-suggestions  example questions for an empty chat, separated by "|"
 *               ("" shows none)
 * data-socket-path  the socket.io path (default "/socket.io")
 *
 * It talks to Rasa's socket.io channel and falls back to the REST channel when the
 * socket cannot connect. Clinic details come from the server (config.json). All
 * text is inserted as text, never as HTML. The page can call
 * window.PainClinicChat.open() / .close() / .startOver().
 */
(function () {
  "use strict";

  var script =
    document.currentScript ||
    Array.prototype.slice.call(document.querySelectorAll("script[src]")).filter(function (s) {
      return /\/widget\.js(\?|$)/.test(s.src);
    })[0];
  if (!script || window.PainClinicChat) {
    return;
  }

  var data = script.dataset;
  var ASSETS = new URL(".", script.src).href;
  var SERVER = (data.server || new URL(script.src).origin).replace(/\/+$/, "");
  var TITLE = data.title || "Ask about pain treatments";
  var SOCKET_PATH = data.socketPath || "/socket.io";
  var MAX_MESSAGES = 100;
  var REPLY_TIMEOUT_MS = 30000;
  var STORE_KEY = "painClinicChat:" + SERVER;
  var CONFIG_KEY = "painClinicChat:config:" + SERVER;
  var SUGGESTIONS = (
    data.suggestions !== undefined
      ? data.suggestions
      : "What is radiofrequency ablation?|How long does relief last?|How should I prepare for an injection?"
  )
    .split("|")
    .map(function (s) { return s.trim(); })
    .filter(Boolean);

  // ---------------------------------------------------------------- storage
  function pickStorage(kind) {
    try {
      var store = kind === "local" ? window.localStorage : window.sessionStorage;
      store.setItem("painClinicChat:test", "1");
      store.removeItem("painClinicChat:test");
      return store;
    } catch (e) {
      return null; // private mode or blocked: the chat still works, it just won't survive a reload
    }
  }
  var storage = pickStorage(data.storage === "local" ? "local" : "session");
  var configStorage = pickStorage("local");

  function readJSON(store, key) {
    if (!store) return null;
    try {
      return JSON.parse(store.getItem(key) || "null");
    } catch (e) {
      return null;
    }
  }
  function writeJSON(store, key, value) {
    if (!store) return;
    try {
      store.setItem(key, JSON.stringify(value));
    } catch (e) {
      /* storage full or blocked: keep going without it */
    }
  }

  function newSessionId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID().replace(/-/g, "");
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var saved = readJSON(storage, STORE_KEY) || {};
  var state = {
    sessionId: typeof saved.sessionId === "string" && saved.sessionId ? saved.sessionId : newSessionId(),
    messages: Array.isArray(saved.messages) ? saved.messages.filter(validMessage).slice(-MAX_MESSAGES) : [],
    open: data.open === "true" || saved.open === true,
    config: readJSON(configStorage, CONFIG_KEY),
    online: null, // null: not known yet
    waiting: false,
  };

  function validMessage(m) {
    return m && (m.who === "bot" || m.who === "user") && typeof m.text === "string" && typeof m.time === "number";
  }
  function save() {
    writeJSON(storage, STORE_KEY, { sessionId: state.sessionId, messages: state.messages, open: state.open });
  }

  // ---------------------------------------------------------------- colour
  function hexToRgb(hex) {
    var m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec((hex || "").trim());
    if (!m) return null;
    var h = m[1].length === 3 ? m[1].replace(/(.)/g, "$1$1") : m[1];
    return [0, 2, 4].map(function (i) { return parseInt(h.substr(i, 2), 16); });
  }
  function luminance(rgb) {
    var c = rgb.map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function contrast(a, b) {
    var la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }
  // The accent carries white text and is used for links on the light bubble:
  // darken it until both read at 4.5:1 or better.
  function readableAccent(hex) {
    var rgb = hexToRgb(hex) || hexToRgb("#0b5e86");
    var bubble = [238, 242, 246];
    for (var i = 0; i < 40 && (contrast(rgb, [255, 255, 255]) < 4.6 || contrast(rgb, bubble) < 4.6); i++) {
      rgb = rgb.map(function (v) { return Math.round(v * 0.92); });
    }
    return "rgb(" + rgb.join(", ") + ")";
  }

  // ---------------------------------------------------------------- DOM helpers
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else node.setAttribute(key, value === true ? "" : value);
      });
    }
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }
  var SVG_NS = "http://www.w3.org/2000/svg";
  function icon(paths, size) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", size || 24);
    svg.setAttribute("height", size || 24);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    paths.forEach(function (d) {
      var p = document.createElementNS(SVG_NS, "path");
      p.setAttribute("d", d);
      svg.appendChild(p);
    });
    return svg;
  }
  var ICON_CHAT = ["M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"];
  var ICON_CLOSE = ["M6 6l12 12M18 6L6 18"];
  var ICON_SEND = ["M3 11.5L21 3l-8.5 18-2.2-7.3z", "M10.3 13.7L21 3"];
  var ICON_INFO = ["M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z", "M12 11v6M12 7.5v.5"];

  function srOnly(text) {
    return el("span", { className: "sr-only", text: text });
  }

  // Text -> paragraphs with links. Web addresses, the clinic phone and the
  // emergency number become links; everything else stays plain text.
  var URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
  function telHref(number) {
    return "tel:" + number.replace(/[^\d+]/g, "");
  }
  function findLinks(text) {
    var found = [];
    var m;
    URL_RE.lastIndex = 0;
    while ((m = URL_RE.exec(text))) {
      var url = m[0].replace(/[.,;:!?)\]]+$/, "");
      found.push({ start: m.index, end: m.index + url.length, href: url, label: url, external: true });
    }
    var cfg = state.config || {};
    [cfg.phone, cfg.emergency_number].forEach(function (number) {
      if (!number || !/\d/.test(number)) return;
      var from = 0, at;
      while ((at = text.indexOf(number, from)) !== -1) {
        var before = text.charAt(at - 1), after = text.charAt(at + number.length);
        if (!/\d/.test(before) && !/\d/.test(after)) {
          found.push({ start: at, end: at + number.length, href: telHref(number), label: number });
        }
        from = at + number.length;
      }
    });
    found.sort(function (a, b) { return a.start - b.start; });
    var kept = [], end = 0;
    found.forEach(function (f) {
      if (f.start >= end) { kept.push(f); end = f.end; }
    });
    return kept;
  }
  function appendLinked(parent, text) {
    var at = 0;
    findLinks(text).forEach(function (link) {
      if (link.start > at) parent.appendChild(document.createTextNode(text.slice(at, link.start)));
      var a = el("a", { href: link.href, text: link.label });
      if (link.external) {
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        a.appendChild(srOnly(" (opens in a new tab)"));
      }
      parent.appendChild(a);
      at = link.end;
    });
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
  }
  function renderText(parent, text, linkify) {
    text
      .replace(/\r\n?/g, "\n")
      .split(/\n\s*\n/)
      .forEach(function (para) {
        if (!para.trim()) return;
        var p = el("p");
        para.split("\n").forEach(function (line, i) {
          if (i) p.appendChild(el("br"));
          if (linkify) appendLinked(p, line);
          else p.appendChild(document.createTextNode(line));
        });
        parent.appendChild(p);
      });
  }

  function timeLabel(ms) {
    var d = new Date(ms);
    try {
      return d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    } catch (e) {
      return d.toTimeString().slice(0, 5);
    }
  }

  // ---------------------------------------------------------------- build the widget
  var host = el("div", { id: "pain-clinic-chat", "data-pain-clinic-chat": "" });
  var root = host.attachShadow({ mode: "open" });
  var stylesheet = el("link", { rel: "stylesheet", href: ASSETS + "widget.css" });
  // Shown once styled (or, if the styles cannot load, unstyled but usable).
  host.style.visibility = "hidden";
  stylesheet.addEventListener("load", function () { host.style.visibility = ""; });
  stylesheet.addEventListener("error", function () { host.style.visibility = ""; });
  root.appendChild(stylesheet);
  host.style.setProperty("--pcc-accent", readableAccent(data.accent));

  var launcher = el("button", { type: "button", className: "launcher", "aria-expanded": "false", "aria-controls": "pcc-panel" }, [
    icon(ICON_CHAT, 22),
    el("span", { text: "Chat with us" }),
  ]);
  var title = el("h2", { id: "pcc-title", className: "title", text: TITLE });
  var subtitle = el("p", { className: "subtitle" });
  var restartButton = el("button", { type: "button", className: "restart", text: "Start over" });
  var closeButton = el("button", { type: "button", className: "close", "aria-label": "Close chat" }, [icon(ICON_CLOSE, 22)]);
  var banner = el("div", { className: "banner", role: "alert", hidden: true });
  // Always on show above the conversation, however far it scrolls: the emergency number.
  var emergencyLine = el("p", { className: "emergency-line" });
  var notice = el("div", { className: "notice" });
  var messagesList = el("ol", { className: "messages", "aria-label": "Messages" });
  var typing = el("div", { className: "typing", hidden: true }, [
    el("span", { className: "dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
    el("span", { className: "typing-text", text: "The assistant is typing…" }),
  ]);
  var log = el("div", { className: "log", tabindex: "0", role: "region", "aria-label": "Conversation" }, [
    notice,
    messagesList,
    typing,
  ]);
  var input = el("textarea", {
    id: "pcc-input",
    rows: "1",
    maxlength: "500",
    autocomplete: "off",
    placeholder: "Type your question…",
    "aria-describedby": "pcc-privacy",
  });
  var sendButton = el("button", { type: "submit", className: "send" }, [icon(ICON_SEND, 20), el("span", { text: "Send" })]);
  var form = el("form", { className: "composer", novalidate: true }, [
    el("label", { for: "pcc-input", className: "sr-only", text: "Your question" }),
    input,
    sendButton,
  ]);
  var privacy = el("p", { id: "pcc-privacy", className: "privacy", text: "Please don't type your name, birth date or other personal details." });
  var panel = el("section", { id: "pcc-panel", className: "panel", role: "dialog", "aria-labelledby": "pcc-title", hidden: true }, [
    el("div", { className: "head" }, [el("div", { className: "head-text" }, [title, subtitle]), restartButton, closeButton]),
    emergencyLine,
    banner,
    log,
    form,
    privacy,
  ]);
  // Bot replies are read out from here (not from the message list, so the
  // patient's own words are not repeated back).
  var announcer = el("div", { className: "sr-only", "aria-live": "polite", "aria-relevant": "additions" });
  root.appendChild(el("div", { className: "pcc" }, [launcher, panel, announcer]));

  function announce(text) {
    announcer.appendChild(el("p", { text: text }));
    while (announcer.childNodes.length > 4) announcer.removeChild(announcer.firstChild);
  }

  // ---------------------------------------------------------------- rendering
  function renderNotice() {
    var cfg = state.config;
    notice.textContent = "";
    var body = el("div", { className: "notice-body" });
    // The wording comes from the knowledge file (config.json); the first sentence
    // of each paragraph is its heading. Until the server answers, a short
    // built-in notice stands in.
    var paragraphs = cfg && cfg.disclaimer && cfg.disclaimer.length ? cfg.disclaimer : [
      "General information only. This is not medical advice.",
      "Not for emergencies. If you have an emergency, call your local emergency number now.",
    ];
    paragraphs.forEach(function (text) {
      var split = text.indexOf(". ");
      var p = el("p", {}, split > 0 ? [el("strong", { text: text.slice(0, split + 1) })] : []);
      appendLinked(p, split > 0 ? text.slice(split + 1) : text);
      body.appendChild(p);
    });
    notice.appendChild(el("span", { className: "notice-icon" }, [icon(ICON_INFO, 20)]));
    notice.appendChild(body);
    subtitle.textContent = cfg && cfg.name ? cfg.name : "";
    emergencyLine.textContent = "";
    appendLinked(emergencyLine, cfg && cfg.emergency_line ? cfg.emergency_line : "Emergency? Call your local emergency number now.");
  }

  function lastBotIndexWithButtons() {
    for (var i = state.messages.length - 1; i >= 0; i--) {
      var m = state.messages[i];
      if (m.who === "user") return -1; // choices are offered only until the patient answers
      if (m.buttons && m.buttons.length) return i;
    }
    return -1;
  }

  function messageNode(m, index, withChoices) {
    var text = el("div", { className: "text" });
    renderText(text, m.text, m.who === "bot");
    var bubble = el("div", { className: "bubble" }, [srOnly(m.who === "bot" ? "Assistant: " : "You: "), text]);
    var item = el("li", { className: "msg " + m.who }, [bubble]);
    if (withChoices) {
      var group = el("div", { className: "choices", role: "group", "aria-label": "Choose one" });
      m.buttons.forEach(function (b) {
        var choice = el("button", { type: "button", className: "choice", text: b.title });
        choice.addEventListener("click", function () {
          send(b.payload, b.title);
        });
        group.appendChild(choice);
      });
      item.appendChild(group);
    }
    item.appendChild(el("time", { className: "time", datetime: new Date(m.time).toISOString(), text: timeLabel(m.time) }));
    return item;
  }

  function renderSuggestions() {
    var item = el("li", { className: "msg suggestions" });
    var group = el("div", { className: "choices", role: "group", "aria-label": "Example questions" });
    SUGGESTIONS.forEach(function (q) {
      var b = el("button", { type: "button", className: "choice", text: q });
      b.addEventListener("click", function () { send(q, q); });
      group.appendChild(b);
    });
    item.appendChild(el("p", { className: "hint", text: "Ask a question in your own words, or try one of these:" }));
    item.appendChild(group);
    return item;
  }

  function render() {
    messagesList.textContent = "";
    var choicesAt = lastBotIndexWithButtons();
    state.messages.forEach(function (m, i) {
      messagesList.appendChild(messageNode(m, i, i === choicesAt));
    });
    if (!state.messages.length && SUGGESTIONS.length) messagesList.appendChild(renderSuggestions());
    typing.hidden = !state.waiting;
    scrollToEnd();
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  // New replies scroll into view from their start (a long answer is read from
  // the top): the patient's question stays at the top while there is room.
  function scrollToReply() {
    var asked = messagesList.querySelectorAll(".msg.user");
    var question = asked[asked.length - 1];
    if (!question) return scrollToEnd();
    var top = log.scrollTop + question.getBoundingClientRect().top - log.getBoundingClientRect().top - 12;
    log.scrollTop = Math.min(top, log.scrollHeight);
  }

  function addMessage(who, text, buttons) {
    var m = { who: who, text: String(text), time: Date.now() };
    if (buttons && buttons.length) m.buttons = buttons;
    state.messages.push(m);
    if (state.messages.length > MAX_MESSAGES) state.messages.splice(0, state.messages.length - MAX_MESSAGES);
    save();
    render();
    if (who === "bot") {
      scrollToReply();
      announce("Assistant: " + m.text);
    }
  }

  var replyTimer = null;
  function setWaiting(on) {
    state.waiting = on;
    typing.hidden = !on;
    clearTimeout(replyTimer);
    if (on) {
      scrollToEnd();
      replyTimer = setTimeout(function () {
        setWaiting(false);
        showBanner("noreply");
      }, REPLY_TIMEOUT_MS);
    }
  }

  // ---------------------------------------------------------------- connection status
  var bannerTimer = null;
  function phoneSentence() {
    var cfg = state.config;
    return cfg && cfg.phone
      ? "To talk to someone at the clinic, call " + cfg.phone + (cfg.hours ? " (" + cfg.hours + ")." : ".")
      : "To talk to someone, please call the clinic.";
  }
  function showBanner(kind) {
    clearTimeout(bannerTimer);
    banner.textContent = "";
    banner.className = "banner " + (kind === "back" ? "ok" : "problem");
    var text;
    if (kind === "offline") {
      text = "We can't reach the assistant right now. We'll keep trying to reconnect. " + phoneSentence();
    } else if (kind === "notsent") {
      text = "Your message was not sent because we can't reach the assistant. We'll keep trying to reconnect. " + phoneSentence();
    } else if (kind === "noreply") {
      text = "The assistant did not answer. Please try again. " + phoneSentence();
    } else {
      text = "You're connected again.";
      bannerTimer = setTimeout(hideBanner, 4000);
    }
    var p = el("p");
    appendLinked(p, text);
    banner.appendChild(p);
    banner.hidden = false;
    banner.setAttribute("data-kind", kind);
  }
  function hideBanner() {
    clearTimeout(bannerTimer);
    banner.hidden = true;
    banner.textContent = "";
    banner.removeAttribute("data-kind");
  }

  function setOnline(online) {
    var was = state.online;
    state.online = online;
    panel.setAttribute("data-connection", online ? "online" : "offline");
    if (online) {
      stopProbing();
      if (was === false) showBanner("back");
      else if (banner.getAttribute("data-kind") !== "noreply") hideBanner();
    } else {
      if (state.waiting) setWaiting(false);
      if (banner.getAttribute("data-kind") !== "notsent") showBanner("offline");
      scheduleProbe();
    }
  }

  // Is the server there at all? (The socket may be blocked while HTTP works.)
  var lastProbe = 0, probeTimer = null, probeDelay = 2000, probing = false;
  function probe() {
    if (probing) return;
    probing = true;
    lastProbe = Date.now();
    fetch(ASSETS + "config.json", { cache: "no-store", credentials: "omit" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (cfg) {
        probing = false;
        setConfig(cfg);
        setOnline(true);
      })
      .catch(function () {
        probing = false;
        setOnline(false);
      });
  }
  function scheduleProbe() {
    clearTimeout(probeTimer);
    probeTimer = setTimeout(probe, probeDelay);
    probeDelay = Math.min(probeDelay * 1.5, 10000);
  }
  function stopProbing() {
    clearTimeout(probeTimer);
    probeDelay = 2000;
  }
  function setConfig(cfg) {
    if (!cfg || typeof cfg !== "object") return;
    state.config = cfg;
    writeJSON(configStorage, CONFIG_KEY, cfg);
    renderNotice();
  }

  // ---------------------------------------------------------------- socket.io
  var socket = null, socketReady = false;

  function loadSocketClient(done) {
    if (window.PainClinicChatIO) return done(window.PainClinicChatIO);
    var previous = window.io;
    var tag = document.createElement("script");
    tag.src = ASSETS + "vendor/socket.io.min.js";
    tag.async = true;
    tag.onload = function () {
      var ours = window.io;
      if (previous !== undefined) window.io = previous; // leave the page's own copy alone
      window.PainClinicChatIO = typeof ours === "function" ? ours : null;
      done(window.PainClinicChatIO);
    };
    tag.onerror = function () { done(null); };
    document.head.appendChild(tag);
  }

  function connectSocket() {
    loadSocketClient(function (io) {
      if (!io) {
        probe(); // no socket.io client: the REST channel carries the chat
        return;
      }
      socket = io(SERVER, {
        path: SOCKET_PATH,
        reconnectionDelay: 1000,
        reconnectionDelayMax: 5000,
        timeout: 8000,
      });
      socket.on("connect", function () {
        socket.emit("session_request", { session_id: state.sessionId });
      });
      socket.on("session_confirm", function () {
        socketReady = true;
        panel.setAttribute("data-transport", "socket");
        setOnline(true);
      });
      socket.on("bot_uttered", receive);
      socket.on("connect_error", function () {
        socketReady = false;
        // Let the REST channel carry the chat if the server answers HTTP. Check
        // at most every 10 s while that works.
        if (state.online !== true || Date.now() - lastProbe > 10000) probe();
      });
      socket.on("disconnect", function () {
        socketReady = false;
        probe();
      });
    });
  }

  function normaliseButtons(list) {
    return (list || [])
      .filter(function (b) { return b && typeof b.title === "string" && typeof b.payload === "string"; })
      .map(function (b) { return { title: b.title, payload: b.payload }; });
  }

  function receive(message) {
    if (!message) return;
    var text = typeof message.text === "string" ? message.text : "";
    var buttons = normaliseButtons(message.quick_replies || message.buttons);
    if (!text && !buttons.length) return;
    setWaiting(false);
    addMessage("bot", text, buttons);
  }

  // ---------------------------------------------------------------- sending
  // Takes an unsent message back out of the conversation and into the box, so nothing is lost.
  function takeBack(messageIndex, typed) {
    var m = state.messages[messageIndex];
    if (m && m.who === "user") {
      state.messages.splice(messageIndex, 1);
      save();
      render();
      if (typed && !input.value.trim()) {
        input.value = m.text;
        resizeInput();
      }
    }
  }

  function sendRest(payload, messageIndex, typed) {
    var session = state.sessionId;
    panel.setAttribute("data-transport", "rest");
    fetch(SERVER + "/webhooks/rest/webhook", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: state.sessionId, message: payload }),
      credentials: "omit",
    })
      .then(function (r) {
        // 429: too many messages too fast. The server still answers with the
        // assistant's polite "please wait" message; the patient's message was not
        // read, so it goes back into the box to send again.
        if (r.status === 429) {
          return r.json().then(function (replies) {
            return { replies: replies, limited: true };
          });
        }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json().then(function (replies) {
          return { replies: replies, limited: false };
        });
      })
      .then(function (result) {
        if (session !== state.sessionId) return; // the patient started over meanwhile
        if (state.online !== true) setOnline(true);
        setWaiting(false);
        if (result.limited) takeBack(messageIndex, typed);
        (Array.isArray(result.replies) ? result.replies : []).forEach(receive);
      })
      .catch(function () {
        if (session !== state.sessionId) return;
        setWaiting(false);
        takeBack(messageIndex, typed);
        showBanner("notsent");
        setOnline(false);
      });
  }

  // payload: what Rasa gets; shown: what the patient sees (a button's title).
  function send(payload, shown) {
    var typed = shown === undefined;
    payload = String(payload || "").trim();
    if (!payload) return false;
    if (state.online === false) {
      showBanner("notsent");
      probe();
      return false;
    }
    if (banner.getAttribute("data-kind") === "noreply") hideBanner();
    addMessage("user", shown || payload);
    var index = state.messages.length - 1;
    setWaiting(true);
    if (socket && socket.connected && socketReady) {
      panel.setAttribute("data-transport", "socket");
      socket.emit("user_uttered", { message: payload, session_id: state.sessionId });
    } else {
      sendRest(payload, index, typed);
    }
    input.focus();
    return true;
  }

  // ---------------------------------------------------------------- open, close, start over
  function open() {
    state.open = true;
    save();
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    host.setAttribute("data-open", "");
    scrollToEnd();
    input.focus();
  }
  function close() {
    state.open = false;
    save();
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    host.removeAttribute("data-open");
    launcher.focus();
  }
  function startOver() {
    state.messages = [];
    state.sessionId = newSessionId();
    setWaiting(false);
    save();
    render();
    if (socket) {
      // A fresh socket joins only the new conversation.
      socketReady = false;
      socket.disconnect().connect();
    }
    announce("The conversation was cleared. You can start a new one.");
    input.value = "";
    input.focus();
  }

  launcher.addEventListener("click", open);
  closeButton.addEventListener("click", close);
  restartButton.addEventListener("click", startOver);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim()) {
      input.focus();
      return;
    }
    if (send(text)) {
      input.value = "";
      resizeInput();
    }
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });
  function resizeInput() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 140) + "px";
  }
  input.addEventListener("input", resizeInput);

  // ---------------------------------------------------------------- start
  function start() {
    document.body.appendChild(host);
    renderNotice();
    render();
    if (state.open) {
      panel.hidden = false;
      launcher.hidden = true;
      launcher.setAttribute("aria-expanded", "true");
      host.setAttribute("data-open", "");
    }
    probe();
    connectSocket();
  }

  window.PainClinicChat = { open: open, close: close, startOver: startOver };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
