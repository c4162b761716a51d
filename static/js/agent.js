/*
 * Agent app: presence, offers with a countdown, open chats.
 *
 * The server's snapshot on every (re)connect is the source of truth: frames are applied
 * idempotently (keyed by offer id, ticket id, message id) and anything the snapshot no
 * longer contains is dropped once it is complete, so a reconnect shows what was missed.
 */
(function () {
  "use strict";

  var root = document.getElementById("agent-app");
  if (!root || !window.ReconnectingSocket) return;

  var MAX_CHARS = parseInt(root.dataset.maxChars, 10) || 4000;
  // Only used to size the countdown bar of an offer first seen part-way through.
  var DEFAULT_OFFER_SECONDS = 20;
  var RESOLVE_CONFIRM_MS = 5000;
  var NOTICE_MS = 6000;

  // The server's messages are English (the wire contract); the agent reads these.
  var ERROR_TEXT = {
    offer_expired: gettext("This offer has expired."),
    offer_closed: gettext("This offer is no longer open."),
    offer_not_found: gettext("This offer is no longer available."),
    offer_already_accepted: gettext("You already accepted this offer."),
    ticket_not_assigned: gettext("This chat is no longer assigned to you."),
    ticket_not_found: gettext("This chat is no longer assigned to you."),
    suspended: gettext("Your account is suspended, so you can't take offers right now."),
    invalid_status: gettext("That status is not one you can choose."),
  };
  var RESCIND_TEXT = {
    expired: gettext("An offer expired before it was accepted."),
    taken: gettext("That offer was taken by another agent."),
    cancelled: gettext("An offer was withdrawn."),
  };
  // In a sentence ("You are available") and on the pill, which starts with a capital.
  var STATUS_LABEL = {
    available: pgettext("agent status", "available"),
    away: pgettext("agent status", "away"),
    offline: pgettext("agent status", "offline"),
  };
  var STATUS_TITLE = {
    available: pgettext("agent status", "Available"),
    away: pgettext("agent status", "Away"),
    offline: pgettext("agent status", "Offline"),
  };
  var PRIORITY_LABEL = {
    low: pgettext("ticket priority", "low"),
    normal: pgettext("ticket priority", "normal"),
    high: pgettext("ticket priority", "high"),
    urgent: pgettext("ticket priority", "urgent"),
  };
  // Errors about the connection itself, which a reconnect makes moot.
  var OFFER_GONE = ["offer_expired", "offer_closed", "offer_not_found", "offer_already_accepted"];
  var alerts = window.AgentAlerts || { offer: function () {}, offerGone: function () {}, status: function () {}, onAction: function () {} };

  var $ = function (testid, scope) {
    return (scope || document).querySelector('[data-testid="' + testid + '"]');
  };

  var ui = {
    connection: $("connection"),
    statusCurrent: $("status-current"),
    statusDot: document.querySelector(".status-line .status-dot"),
    statusButtons: Array.prototype.slice.call(document.querySelectorAll(".status-toggle [data-status]")),
    statusPill: $("status-pill"),
    statusPillText: $("status-pill-text"),
    guide: $("first-day-guide"),
    guideDismiss: $("first-day-dismiss"),
    earning: $("earning-card"),
    earningAmount: $("earning-amount"),
    earningDetail: $("earning-detail"),
    earningDismiss: $("earning-dismiss"),
    errorBox: $("error-box"),
    error: $("error"),
    errorDismiss: $("error-dismiss"),
    noticeBox: $("notice-box"),
    notice: $("notice"),
    noticeDismiss: $("notice-dismiss"),
    noteBox: $("supervisor-note"),
    noteFrom: $("supervisor-note-from"),
    noteText: $("supervisor-note-text"),
    noteDismiss: $("supervisor-note-dismiss"),
    offers: $("offers"),
    empty: $("empty-state"),
    emptyText: $("empty-state-text"),
    chats: $("chats"),
    chatList: $("chat-list"),
    chatView: $("chat-view"),
    chatCustomer: $("chat-customer"),
    chatSubject: $("chat-subject"),
    chatMeta: $("chat-meta"),
    chatPay: $("chat-pay"),
    chatSummary: $("chat-summary"),
    transcript: $("transcript"),
    transcriptToggle: $("transcript-toggle"),
    transcriptList: $("transcript-list"),
    messages: $("messages"),
    composer: $("composer"),
    input: $("message-input"),
    counter: $("message-counter"),
    send: $("message-send"),
    resolve: $("resolve"),
    attach: $("attach"),
    attachInput: $("attach-input"),
    typing: $("typing-indicator"),
    suspendedBanner: $("suspended-banner"),
  };

  var QUALITY_PATH = root.dataset.qualityUrl || "/agent/quality/";

  var state = {
    status: root.dataset.status || "offline",
    offers: new Map(), // offer_id -> {frame, el, deadline, total, tick}
    chats: new Map(), // ticket_id -> {ticket, messages: Map, unread, el, draft}
    openId: null,
    sync: null, // {offers: Set, tickets: Set} while a snapshot is arriving
    connected: false,
  };

  // --- small helpers ---------------------------------------------------------------------

  var el = window.UI.el;

  function formatPay(pay) {
    if (!pay || pay.amount == null) return "";
    return window.UI.formatMoney(pay.amount, pay.currency);
  }

  var formatTime = window.UI.formatTime;

  function formatWaiting(seconds) {
    if (seconds == null) return "";
    if (seconds < 60) return interpolate(ngettext("waiting %(n)s s", "waiting %(n)s s", seconds), { n: seconds }, true);
    var minutes = Math.round(seconds / 60);
    return interpolate(ngettext("waiting %(n)s min", "waiting %(n)s min", minutes), { n: minutes }, true);
  }

  function priorityLabel(priority) {
    return PRIORITY_LABEL[priority] || priority;
  }

  function errorText(err) {
    return window.UI.errorText(err, ERROR_TEXT);
  }

  function showError(err) {
    ui.error.textContent = typeof err === "string" ? err : errorText(err);
    ui.errorBox.dataset.code = (err && err.code) || "";
    ui.errorBox.hidden = false;
    // The reason, the evidence and the appeal are on the quality screen.
    if (err && err.code === "suspended") {
      ui.error.appendChild(document.createTextNode(" "));
      ui.error.appendChild(el("a", { href: QUALITY_PATH + "#sanctions-title", "data-testid": "error-quality-link", text: gettext("See why on your Quality page") }));
      showSuspended();
    }
  }

  function showSuspended() {
    if (ui.suspendedBanner) ui.suspendedBanner.hidden = false;
  }

  function clearError() {
    ui.errorBox.hidden = true;
    ui.error.textContent = "";
    ui.errorBox.dataset.code = "";
  }

  var noticeTimer = null;
  function showNotice(text, sticky) {
    clearTimeout(noticeTimer);
    ui.notice.textContent = text;
    ui.noticeBox.hidden = false;
    ui.noticeBox.dataset.sticky = sticky ? "true" : "false";
    if (!sticky) noticeTimer = setTimeout(hideNotice, NOTICE_MS);
  }

  function hideNotice() {
    clearTimeout(noticeTimer);
    ui.noticeBox.hidden = true;
    ui.notice.textContent = "";
  }

  ui.errorDismiss.addEventListener("click", clearError);
  ui.noticeDismiss.addEventListener("click", hideNotice);

  function buzz() {
    if (navigator.vibrate) {
      try { navigator.vibrate([180, 80, 180]); } catch (e) { /* not allowed yet */ }
    }
  }

  // The page's own title, in the page's language; counts go in front of it.
  var baseTitle = document.title;
  function updateTitle() {
    var unread = 0;
    state.chats.forEach(function (chat) { unread += chat.unread; });
    var count = state.offers.size + unread;
    document.title = (count ? "(" + count + ") " : "") + baseTitle;
  }

  // --- connection and presence -----------------------------------------------------------

  function renderConnection(status) {
    ui.connection.textContent = window.UI.connectionText(status);
    ui.connection.dataset.state = status;
  }

  function renderStatus() {
    var status = state.status;
    ui.statusCurrent.textContent = STATUS_LABEL[status] || status;
    ui.statusCurrent.dataset.status = status;
    if (ui.statusDot) ui.statusDot.dataset.status = status;
    ui.statusButtons.forEach(function (button) {
      var current = button.dataset.status === status;
      button.setAttribute("aria-pressed", current ? "true" : "false");
      button.classList.toggle("is-current", current);
    });
    if (ui.statusPill) {
      ui.statusPill.dataset.status = status;
      ui.statusPill.querySelector(".status-dot").dataset.status = status;
      ui.statusPillText.textContent = STATUS_TITLE[status] || status;
    }
    alerts.status(status);
    renderEmpty();
  }

  // During a chat on a phone the status buttons give way to the conversation; the pill in
  // the app bar shows the status and opens them.
  function setPresenceOpen(open) {
    root.classList.toggle("presence-open", open);
    if (ui.statusPill) ui.statusPill.setAttribute("aria-expanded", open ? "true" : "false");
  }
  if (ui.statusPill) {
    ui.statusPill.addEventListener("click", function () {
      setPresenceOpen(!root.classList.contains("presence-open"));
      if (root.classList.contains("presence-open")) {
        var current = ui.statusButtons.filter(function (b) { return b.dataset.status === state.status; })[0];
        if (current) current.focus();
      }
    });
  }

  ui.statusButtons.forEach(function (button) {
    button.addEventListener("click", function () {
      var wanted = button.dataset.status;
      button.setAttribute("aria-busy", "true");
      socket.send({ type: "presence", status: wanted })
        .then(function () {
          // The server also pushes a presence frame; this keeps the toggle right if
          // that push is slow.
          state.status = wanted;
          renderStatus();
          setPresenceOpen(false);
          if (wanted === "available") hideStickyNotice();
        })
        .catch(showError)
        .then(function () { button.removeAttribute("aria-busy"); });
    });
  });

  function hideStickyNotice() {
    if (ui.noticeBox.dataset.sticky === "true") hideNotice();
  }

  function renderEmpty() {
    var nothing = state.offers.size === 0 && state.chats.size === 0;
    ui.empty.hidden = !nothing;
    ui.emptyText.textContent = state.status === "available" ? gettext("Waiting for offers…") : gettext("Go available to receive offers");
    ui.empty.dataset.status = state.status;
    ui.chats.hidden = state.chats.size === 0;
    updateTitle();
  }

  // --- offers ----------------------------------------------------------------------------

  function addOffer(frame) {
    var id = frame.offer_id;
    if (state.sync) state.sync.offers.add(id);
    // expires_in is relative to when the server sent the frame, so a phone whose clock is
    // off still counts down correctly; expires_at is the fallback.
    var deadline = typeof frame.expires_in === "number"
      ? Date.now() + frame.expires_in * 1000
      : Date.parse(frame.expires_at);
    if (isNaN(deadline)) deadline = Date.now() + DEFAULT_OFFER_SECONDS * 1000;
    var existing = state.offers.get(id);
    if (existing) {
      existing.deadline = deadline;
      tickOffer(existing);
      return;
    }
    var remaining = (deadline - Date.now()) / 1000;
    if (remaining <= 0) return;
    var offer = { frame: frame, deadline: deadline, total: Math.max(remaining, DEFAULT_OFFER_SECONDS), seenAt: Date.now() };
    offer.el = renderOffer(offer);
    state.offers.set(id, offer);
    ui.offers.appendChild(offer.el);
    tickOffer(offer);
    offer.tick = setInterval(function () { tickOffer(offer); }, 250);
    renderEmpty();
    hideEarning();
    alerts.offer(frame);
    if (pendingAction && pendingAction.offerId === id) runPendingAction();
  }

  function renderOffer(offer) {
    var frame = offer.frame;
    var ticket = frame.ticket || {};
    var countdown = el("span", { className: "offer-countdown", "data-testid": "offer-countdown" });
    var countdownUnit = el("small", { className: "muted", "data-testid": "offer-countdown-unit", "aria-hidden": "true" });
    var bar = el("span", { className: "offer-bar-fill" });
    offer.countdownEl = countdown;
    offer.countdownUnitEl = countdownUnit;
    offer.barEl = bar;

    var chips = el("p", { className: "chips" }, [
      ticket.language ? el("span", { className: "chip", "data-testid": "offer-language", text: ticket.language.toUpperCase() }) : null,
      ticket.priority ? el("span", { className: "chip chip-priority", "data-priority": ticket.priority, "data-testid": "offer-priority", text: priorityLabel(ticket.priority) }) : null,
      ticket.category ? el("span", { className: "chip", "data-testid": "offer-category", text: ticket.category }) : null,
      ticket.waiting_seconds != null ? el("span", { className: "chip chip-muted", "data-testid": "offer-waiting", text: formatWaiting(ticket.waiting_seconds) }) : null,
    ]);
    offer.waitingEl = chips.querySelector('[data-testid="offer-waiting"]');
    offer.errorEl = el("p", { className: "offer-error", "data-testid": "offer-error", role: "alert", hidden: true });

    var accept = el("button", { type: "button", className: "offer-accept", "data-testid": "offer-accept", text: gettext("Accept") });
    var decline = el("button", { type: "button", className: "offer-decline secondary outline", "data-testid": "offer-decline", text: gettext("Decline") });

    var card = el("article", { className: "offer-card", "data-testid": "offer-card", "data-offer-id": String(frame.offer_id), "data-ticket-id": String(ticket.id) }, [
      el("div", { className: "offer-top" }, [
        el("div", { className: "offer-pay-box" }, [
          el("small", { className: "muted", text: gettext("New case · pays") }),
          el("strong", { className: "offer-pay", "data-testid": "offer-pay", text: formatPay(frame.pay) }),
        ]),
        el("div", { className: "offer-timer" }, [countdown, countdownUnit]),
      ]),
      el("div", { className: "offer-bar", "aria-hidden": "true" }, [bar]),
      el("h3", { className: "offer-subject", "data-testid": "offer-subject", text: ticket.subject || gettext("(no subject)") }),
      ticket.summary ? el("p", { className: "offer-summary", "data-testid": "offer-summary", text: ticket.summary }) : null,
      chips,
      offer.errorEl,
      el("div", { className: "offer-actions" }, [decline, accept]),
    ]);

    offer.accept = function () { respondToOffer(offer, "offer.accept", accept, decline); };
    offer.decline = function () { respondToOffer(offer, "offer.decline", decline, accept); };
    accept.addEventListener("click", offer.accept);
    decline.addEventListener("click", offer.decline);
    return card;
  }

  function respondToOffer(offer, type, button, other) {
    var id = offer.frame.offer_id;
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
    other.disabled = true;
    socket.send({ type: type, offer_id: id })
      .then(function () {
        removeOffer(id);
      })
      .catch(function (err) {
        showError(err);
        if (OFFER_GONE.indexOf(err.code) !== -1) {
          removeOffer(id);
        } else {
          // The card covers the page on a phone: say it where the agent is looking.
          offer.errorEl.textContent = errorText(err);
          offer.errorEl.hidden = false;
          button.removeAttribute("aria-busy");
          button.disabled = false;
          other.disabled = false;
        }
      });
  }

  function tickOffer(offer) {
    var left = Math.max(0, (offer.deadline - Date.now()) / 1000);
    var seconds = Math.ceil(left);
    if (offer.shownSeconds !== seconds) {
      offer.shownSeconds = seconds;
      offer.countdownEl.textContent = window.UI.formatNumber(seconds);
      // The big figure and its unit are what the eye reads; a screen reader gets the sentence.
      offer.countdownUnitEl.textContent = ngettext("s left", "s left", seconds);
      offer.countdownEl.setAttribute("aria-label", interpolate(ngettext("%(n)s second left", "%(n)s seconds left", seconds), { n: seconds }, true));
    }
    var fraction = Math.max(0, Math.min(1, left / offer.total));
    offer.barEl.style.width = (fraction * 100).toFixed(1) + "%";
    offer.el.classList.toggle("is-urgent", left <= 5);
    if (offer.waitingEl) {
      // The customer keeps waiting while the agent reads: count on from the frame's figure.
      offer.waitingEl.textContent = formatWaiting(offer.frame.ticket.waiting_seconds + Math.floor((Date.now() - offer.seenAt) / 1000));
    }
    if (left <= 0 && removeOffer(offer.frame.offer_id)) showNotice(RESCIND_TEXT.expired);
  }

  function removeOffer(id) {
    var offer = state.offers.get(id);
    if (!offer) return false;
    clearInterval(offer.tick);
    state.offers.delete(id);
    offer.el.remove();
    alerts.offerGone(id);
    renderEmpty();
    return true;
  }

  // --- chats -----------------------------------------------------------------------------

  function upsertChat(ticket) {
    var id = ticket.id;
    if (state.sync) state.sync.tickets.add(id);
    // The assignment can overtake the ack of the accept; the offer is settled either way.
    state.offers.forEach(function (offer, offerId) {
      if (offer.frame.ticket && offer.frame.ticket.id === id) removeOffer(offerId);
    });
    var chat = state.chats.get(id);
    var isNew = !chat;
    if (isNew) {
      chat = {
        ticket: ticket, messages: new Map(), unread: 0, draft: "", el: null, history: null, loadingHistory: false,
        pending: [], readByOther: null, readSent: 0,
      };
      state.chats.set(id, chat);
    } else {
      chat.ticket = ticket;
    }
    var marks = ticket.read_up_to || {};
    if (marks.customer != null && (chat.readByOther == null || marks.customer > chat.readByOther)) chat.readByOther = marks.customer;
    if (marks.agent != null && marks.agent > chat.readSent) chat.readSent = marks.agent;
    (ticket.messages || []).forEach(function (message) { chat.messages.set(message.id, message); });
    mergeHistory(chat, ticket.history);
    renderChatItem(chat);
    renderEmpty();
    // Accepting an offer opens its chat. A snapshot replaying chats we already show
    // must not pull the agent away from the one they are typing in.
    if (isNew && (!state.sync || state.openId == null)) {
      openChat(id);
    } else if (state.openId === id) {
      renderChatView();
      sendRead(chat);
    }
  }

  function renderChatItem(chat) {
    var ticket = chat.ticket;
    var name = (ticket.customer && ticket.customer.name) || gettext("Customer");
    var badge = el("span", { className: "unread-badge", "data-testid": "unread-badge", text: String(chat.unread) });
    badge.hidden = chat.unread === 0;
    var button = el("button", {
      type: "button",
      className: "chat-item",
      "data-testid": "chat-item",
      "data-ticket-id": String(ticket.id),
      "aria-current": state.openId === ticket.id ? "true" : "false",
    }, [
      el("span", { className: "chat-item-main" }, [
        el("strong", { className: "chat-item-name", text: name }),
        el("small", { className: "chat-item-subject", text: ticket.subject || "" }),
      ]),
      badge,
    ]);
    button.addEventListener("click", function () { openChat(ticket.id); });
    var li = el("li", null, [button]);
    if (chat.el) {
      ui.chatList.replaceChild(li, chat.el);
    } else {
      ui.chatList.appendChild(li);
    }
    chat.el = li;
  }

  function removeChat(id) {
    var chat = state.chats.get(id);
    if (!chat) return false;
    state.chats.delete(id);
    if (chat.el) chat.el.remove();
    if (state.openId === id) {
      state.openId = null;
      var next = state.chats.keys().next();
      if (!next.done) {
        openChat(next.value);
      } else {
        ui.input.value = "";
        resetResolve();
        updateCounter();
        renderChatView();
      }
    }
    renderEmpty();
    return true;
  }

  function saveDraft() {
    var chat = state.chats.get(state.openId);
    if (chat) chat.draft = ui.input.value;
  }

  function openChat(id) {
    if (!state.chats.has(id)) return;
    if (state.openId !== id) {
      saveDraft();
      resetResolve();
      state.openId = id;
    }
    var chat = state.chats.get(id);
    chat.unread = 0;
    state.chats.forEach(renderChatItem);
    ui.input.value = chat.draft || "";
    autoGrow();
    typingIndicator.hide();
    renderChatView(true);
    updateCounter();
    updateTitle();
    sendRead(chat);
  }

  function renderChatView(forceScroll) {
    var chat = state.chats.get(state.openId);
    ui.chatView.hidden = !chat;
    root.classList.toggle("has-open-chat", !!chat);
    if (!chat) return;
    var ticket = chat.ticket;
    ui.chatView.dataset.ticketId = String(ticket.id);
    ui.chatCustomer.textContent = (ticket.customer && ticket.customer.name) || gettext("Customer");
    ui.chatSubject.textContent = ticket.subject || "";
    var meta = [ticket.language ? ticket.language.toUpperCase() : null, ticket.priority ? priorityLabel(ticket.priority) : null, ticket.category]
      .concat(ticket.tags || [])
      .filter(Boolean);
    ui.chatMeta.textContent = meta.join(" · ");
    ui.chatPay.textContent = formatPay(ticket.pay) || "—";
    ui.chatSummary.textContent = ticket.summary ? interpolate(gettext("Summary: %(summary)s"), { summary: ticket.summary }, true) : "";
    ui.chatSummary.hidden = !ticket.summary;
    renderTranscript(ticket.transcript || []);
    renderMessages(chat, forceScroll);
  }

  function renderTranscript(turns) {
    ui.transcriptList.textContent = "";
    ui.transcriptToggle.textContent = turns.length
      ? interpolate(ngettext("AI conversation before handover (%(n)s turn)", "AI conversation before handover (%(n)s turns)", turns.length), { n: turns.length }, true)
      : gettext("No AI conversation before handover");
    ui.transcript.classList.toggle("is-empty", turns.length === 0);
    turns.forEach(function (turn) {
      var role = turn.role === "customer" ? "customer" : "bot";
      ui.transcriptList.appendChild(el("li", { className: "turn turn-" + role, "data-role": role }, [
        el("small", { className: "turn-role", text: role === "customer" ? gettext("Customer") : gettext("Assistant") }),
        el("span", { className: "turn-text", text: turn.text || "" }),
      ]));
    });
  }

  function messageNode(message, readByOther) {
    var sender = message.sender || "system";
    var label = sender === "bot" ? gettext("Assistant") : null;
    return el("li", {
      className: "message message-" + sender,
      "data-testid": "message",
      "data-sender": sender,
      "data-message-id": String(message.id),
    }, [
      el("div", { className: "bubble" }, [
        label ? el("small", { className: "message-label", text: label }) : null,
        window.UI.attachmentNode(message.attachment),
        message.text ? el("span", { className: "message-text", text: message.text }) : null,
        el("small", { className: "message-meta" }, [
          el("time", { className: "message-time", datetime: message.sent_at || null, text: formatTime(message.sent_at) }),
          sender === "agent" ? window.UI.ticksNode(readByOther != null && message.id <= readByOther) : null,
        ]),
      ]),
    ]);
  }

  // --- earlier messages ------------------------------------------------------------------
  // A (re)connect brings only the end of a long chat, with a cursor ({more, before}); older
  // pages come on request. Keep whichever cursor reaches further back, so a reconnect does
  // not offer pages the agent has already loaded.
  function mergeHistory(chat, history) {
    if (!history) {
      if (!chat.history) chat.history = { more: false, before: null };
      return;
    }
    var mine = chat.history;
    if (!mine || mine.before == null || (history.before != null && history.before <= mine.before)) {
      chat.history = { more: !!history.more, before: history.before };
    }
  }

  function historyButton(chat) {
    return window.UI.historyButton(chat.loadingHistory, function () { loadEarlier(chat); });
  }

  function loadEarlier(chat) {
    if (chat.loadingHistory || !chat.history || !chat.history.more) return;
    chat.loadingHistory = true;
    if (state.openId === chat.ticket.id) renderMessages(chat);
    // The page arrives as a history frame just before this request's ack.
    socket.send({ type: "history", ticket_id: chat.ticket.id, before: chat.history.before })
      .catch(showError)
      .then(function () {
        chat.loadingHistory = false;
        if (state.openId === chat.ticket.id) keepScrollFromBottom(function () { renderMessages(chat); });
      });
  }

  function onHistory(frame) {
    var chat = state.chats.get(frame.ticket_id);
    if (!chat) return;
    (frame.messages || []).forEach(function (message) { chat.messages.set(message.id, message); });
    chat.history = { more: !!frame.more, before: frame.before != null ? frame.before : chat.history && chat.history.before };
    if (state.openId === frame.ticket_id) keepScrollFromBottom(function () { renderMessages(chat); });
  }

  // Older messages go in above what the agent is reading: keep that where it was.
  function keepScrollFromBottom(render) {
    window.UI.keepScrollFromBottom(ui.messages, render);
  }

  function sortedMessages(chat) {
    return Array.from(chat.messages.values()).sort(function (a, b) { return a.id - b.id; });
  }

  function renderMessages(chat, forceScroll) {
    var stick = forceScroll || nearBottom();
    ui.messages.textContent = "";
    if (chat.history && chat.history.more) ui.messages.appendChild(historyButton(chat));
    sortedMessages(chat).forEach(function (message) { ui.messages.appendChild(messageNode(message, chat.readByOther)); });
    chat.pending.forEach(function (entry) { ui.messages.appendChild(entry.node); });
    if (stick) scrollToBottom();
  }

  function lastId(chat) {
    var max = 0;
    chat.messages.forEach(function (_, id) { if (id > max) max = id; });
    return max;
  }

  // An open chat fills the screen between its header and the composer on every width;
  // only the message list scrolls, so the header and the status stay in view.
  function nearBottom() {
    return ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 120;
  }

  function scrollToBottom() {
    requestAnimationFrame(function () {
      ui.messages.scrollTop = ui.messages.scrollHeight;
    });
  }

  function addMessage(message) {
    var chat = state.chats.get(message.ticket_id);
    if (!chat) return;
    var known = chat.messages.get(message.id);
    // A stand-in made from our own text when the ack came first gives way to the real one.
    if (known && !known.local) return;
    var before = lastId(chat);
    chat.messages.set(message.id, message);
    if (message.sender === "customer" && state.openId === message.ticket_id) typingIndicator.hide();
    if (state.openId === message.ticket_id) {
      var stick = nearBottom() || message.sender === "agent";
      if (message.id > before && !known) {
        // New messages go above the bubbles still waiting for their ack.
        var firstPending = chat.pending.length ? chat.pending[0].node : null;
        ui.messages.insertBefore(messageNode(message, chat.readByOther), firstPending && firstPending.parentNode === ui.messages ? firstPending : null);
      } else {
        renderMessages(chat);
      }
      if (message.sender !== "agent") sendRead(chat);
      if (stick) scrollToBottom();
      if (document.hidden && message.sender !== "agent") {
        chat.unread += 1;
        renderChatItem(chat);
      }
    } else if (message.sender !== "agent") {
      chat.unread += 1;
      renderChatItem(chat);
    }
    if (message.sender === "customer" && (state.openId !== message.ticket_id || document.hidden)) buzz();
    updateTitle();
  }

  // --- read marks and typing --------------------------------------------------------------

  // Tell the server (and so the customer) how far the agent has read the open chat, while
  // the app is in view.
  function sendRead(chat) {
    if (!chat || state.openId !== chat.ticket.id) return;
    if (document.visibilityState !== "visible" || !socket.isOpen()) return;
    var newest = 0;
    chat.messages.forEach(function (message, id) {
      if (message.sender !== "agent" && !message.local && id > newest) newest = id;
    });
    if (newest <= chat.readSent) return;
    chat.readSent = newest;
    socket.send({ type: "read", ticket_id: chat.ticket.id, up_to: newest }).catch(function () { chat.readSent = 0; });
  }

  function onRead(frame) {
    var chat = state.chats.get(frame.ticket_id);
    if (!chat || frame.reader !== "customer" || typeof frame.up_to !== "number") return;
    if (chat.readByOther == null || frame.up_to > chat.readByOther) chat.readByOther = frame.up_to;
    if (state.openId === frame.ticket_id) window.UI.setTicks(ui.messages, "agent", chat.readByOther);
  }

  var typingIndicator = new window.UI.TypingIndicator(ui.typing);

  function onTyping(frame) {
    var chat = state.chats.get(frame.ticket_id);
    if (!chat || frame.sender !== "customer" || state.openId !== frame.ticket_id) return;
    typingIndicator.show((chat.ticket.customer && chat.ticket.customer.name) || gettext("The customer"));
  }

  var sendTyping = window.UI.typingThrottle(function () {
    if (state.openId != null && socket.isOpen()) {
      socket.send({ type: "typing", ticket_id: state.openId }).catch(function () {});
    }
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible") return;
    sendRead(state.chats.get(state.openId));
    var chat = state.chats.get(state.openId);
    if (chat && chat.unread) {
      chat.unread = 0;
      renderChatItem(chat);
      updateTitle();
    }
  });

  // --- composer ----------------------------------------------------------------------------

  function updateCounter() {
    var length = ui.input.value.length;
    ui.counter.textContent = window.UI.formatNumber(length) + " / " + window.UI.formatNumber(MAX_CHARS);
    ui.counter.classList.toggle("is-near-limit", length > MAX_CHARS * 0.9);
    ui.send.disabled = ui.input.value.trim() === "" || ui.input.readOnly;
  }

  function autoGrow() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 160) + "px";
  }

  window.UI.bindComposer(ui.composer, ui.input, function () {
    updateCounter();
    autoGrow();
    if (ui.input.value.trim() !== "") sendTyping();
  }, function () { sendMessage(); });

  function sendMessage() {
    var ticketId = state.openId;
    var text = ui.input.value;
    if (ticketId == null || ui.input.readOnly || text.trim() === "") return;
    if (text.length > MAX_CHARS) {
      showError(interpolate(ngettext("Messages are limited to %(n)s character.", "Messages are limited to %(n)s characters.", MAX_CHARS), { n: window.UI.formatNumber(MAX_CHARS) }, true));
      return;
    }
    // Shown at once as "Sending…", sent through the socket's outbox: now, or once the
    // connection is back. The ack names the stored message.
    var chat = state.chats.get(ticketId);
    if (!chat) return;
    ui.input.value = "";
    chat.draft = "";
    autoGrow();
    updateCounter();
    var entry = { text: text.trim(), node: window.UI.pendingNode("agent", text.trim()) };
    chat.pending.push(entry);
    ui.messages.appendChild(entry.node);
    scrollToBottom();
    socket.send({ type: "message", ticket_id: ticketId, text: text }, { resend: true })
      .then(function (ack) {
        dropPending(chat, entry);
        if (ack && ack.message_id != null && !chat.messages.has(ack.message_id)) {
          addMessage({ ticket_id: ticketId, id: ack.message_id, sender: "agent", text: entry.text, sent_at: new Date().toISOString(), local: true });
        }
        clearError();
      })
      .catch(function (err) {
        dropPending(chat, entry);
        // Refused: give the text back so nothing typed is lost.
        if (state.openId === ticketId && ui.input.value === "") {
          ui.input.value = text;
          autoGrow();
          updateCounter();
        }
        showError(err);
      });
  }

  function dropPending(chat, entry) {
    var at = chat.pending.indexOf(entry);
    if (at !== -1) chat.pending.splice(at, 1);
    entry.node.remove();
  }

  // --- attachments -------------------------------------------------------------------------

  var ATTACHMENT_MAX = parseInt(root.dataset.attachmentMax, 10) || 5 * 1024 * 1024;

  function csrfToken() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  ui.attach.addEventListener("click", function () {
    if (state.openId != null) ui.attachInput.click();
  });

  ui.attachInput.addEventListener("change", function () {
    var file = ui.attachInput.files && ui.attachInput.files[0];
    var ticketId = state.openId;
    ui.attachInput.value = "";
    if (!file || ticketId == null) return;
    if (file.size > ATTACHMENT_MAX) {
      showError(interpolate(gettext("Files are limited to %(size)s."), { size: window.UI.formatSize(ATTACHMENT_MAX) }, true));
      return;
    }
    ui.attach.setAttribute("aria-busy", "true");
    ui.attach.disabled = true;
    var url = root.dataset.attachUrl.replace("/0/", "/" + ticketId + "/");
    window.UI.uploadFile(url, file, { "X-CSRFToken": csrfToken() })
      .then(function (frame) {
        addMessage(frame);
        clearError();
      })
      .catch(showError)
      .then(function () {
        ui.attach.removeAttribute("aria-busy");
        ui.attach.disabled = false;
      });
  });

  // --- resolve (two-step, no confirm()) ------------------------------------------------------

  function resolvedText(name) {
    return name ? interpolate(gettext("Resolved: %(name)s's case."), { name: name }, true) : gettext("Resolved.");
  }

  var resolveTimer = null;
  function resetResolve() {
    clearTimeout(resolveTimer);
    ui.resolve.dataset.armed = "false";
    ui.resolve.textContent = gettext("Resolve");
    ui.resolve.classList.remove("is-armed");
    ui.resolve.disabled = false;
    ui.resolve.removeAttribute("aria-busy");
  }

  ui.resolve.addEventListener("click", function () {
    var ticketId = state.openId;
    if (ticketId == null) return;
    if (ui.resolve.dataset.armed !== "true") {
      ui.resolve.dataset.armed = "true";
      ui.resolve.textContent = gettext("Confirm resolve");
      ui.resolve.classList.add("is-armed");
      clearTimeout(resolveTimer);
      resolveTimer = setTimeout(resetResolve, RESOLVE_CONFIRM_MS);
      return;
    }
    clearTimeout(resolveTimer);
    ui.resolve.disabled = true;
    ui.resolve.setAttribute("aria-busy", "true");
    socket.send({ type: "ticket.resolve", ticket_id: ticketId })
      .then(function () {
        var chat = state.chats.get(ticketId);
        if (chat) {
          var name = chat.ticket.customer && chat.ticket.customer.name;
          removeChat(ticketId);
          showNotice(resolvedText(name));
        }
      })
      .catch(showError)
      .then(resetResolve);
  });

  // --- frames from the server -----------------------------------------------------------

  // --- what a resolved case earned ----------------------------------------------------------
  // Shown until dismissed or the next offer, so a glance after a busy chat still finds it.

  function showEarning(earning) {
    ui.earningAmount.textContent = window.UI.formatMoney(earning.amount, earning.currency, true);
    ui.earningDetail.textContent = earning.status === "available"
      ? pgettext("money", "available now")
      : interpolate(pgettext("money", "pending until %(date)s"), { date: window.UI.formatDate(earning.available_at) }, true);
    ui.earning.dataset.status = earning.status;
    ui.earning.hidden = false;
  }

  function hideEarning() {
    ui.earning.hidden = true;
  }

  ui.earningDismiss.addEventListener("click", hideEarning);

  function onTicketUpdated(frame) {
    var id = frame.ticket_id;
    var status = frame.status;
    if (frame.earning) showEarning(frame.earning);
    if (status === "resolved" || status === "closed" || status === "queued" || status === "cancelled" || status === "reassigned") {
      var chat = state.chats.get(id);
      var name = chat && chat.ticket.customer && chat.ticket.customer.name;
      var removed = removeChat(id);
      if (frame.rating != null) {
        showNotice(name
          ? interpolate(gettext("%(name)s rated the chat %(score)s/5."), { name: name, score: frame.rating }, true)
          : interpolate(gettext("The customer rated the chat %(score)s/5."), { score: frame.rating }, true));
      } else if (status === "reassigned" && removed) {
        showNotice(name
          ? interpolate(gettext("A supervisor handed %(name)s's chat to another agent."), { name: name }, true)
          : gettext("A supervisor handed a chat to another agent."), true);
      } else if (status === "queued") {
        showNotice(name
          ? interpolate(gettext("%(name)s's case was reopened and went back to the queue."), { name: name }, true)
          : gettext("A case was reopened and went back to the queue."));
      } else if (removed) {
        showNotice(status === "resolved" ? resolvedText(name) : gettext("Chat closed."));
      }
    } else {
      var existing = state.chats.get(id);
      if (existing) existing.ticket.status = status;
    }
  }

  // --- shifts (extension) ----------------------------------------------------------------
  // A new or boosted shift this agent could book, or a change to one they booked: a short
  // notice linking to the shifts page. The weekly copies of one publication arrive together,
  // so they make one notice naming the first.

  var SHIFTS_PATH = "/agent/shifts/";
  var SHIFT_BATCH_MS = 400;
  var shiftBatch = null; // {change, shifts: []} while copies of one publication arrive

  function shiftWhen(shift) {
    var start = new Date(shift.starts_at);
    if (isNaN(start.getTime())) return "";
    var day = start.toLocaleDateString(window.UI.lang(), { weekday: "short" });
    return day + " " + window.UI.formatTime(shift.starts_at) + "–" + window.UI.formatTime(shift.ends_at);
  }

  function shiftPay(shift) {
    var terms = [];
    var pay = shift.pay || {};
    if (pay.hourly_floor) {
      terms.push(interpolate(gettext("%(amount)s/h floor"), { amount: formatPay(pay.hourly_floor) }, true));
    }
    if (pay.bonus_per_case) {
      terms.push(interpolate(gettext("+%(amount)s per case"), { amount: formatPay(pay.bonus_per_case) }, true));
    }
    return terms.join(", ");
  }

  function showShiftNotice(change, shifts) {
    var shift = shifts[0];
    var facts = [shiftWhen(shift), shiftPay(shift)].filter(Boolean).join(", ");
    var text = {
      published: gettext("New shift: %(facts)s"),
      boosted: gettext("Bonus raised: %(facts)s"),
      updated: gettext("Your shift changed: %(facts)s"),
      cancelled: gettext("Your shift was cancelled: %(facts)s"),
    }[change] || gettext("Shift update: %(facts)s");
    text = interpolate(text, { facts: change === "cancelled" ? shiftWhen(shift) : facts }, true);
    if (shifts.length > 1) {
      var more = shifts.length - 1;
      text += " " + interpolate(ngettext("(and %(n)s more week)", "(and %(n)s more weeks)", more), { n: more }, true);
    }
    // A change to the agent's own booking stays until dismissed.
    showNotice(text, change === "updated" || change === "cancelled");
    ui.notice.appendChild(document.createTextNode(" — "));
    ui.notice.appendChild(el("a", { href: SHIFTS_PATH, "data-testid": "notice-shifts-link", text: gettext("see Shifts") }));
  }

  function onShiftUpdated(frame) {
    if (!frame.shift) return;
    if (frame.change !== "published") {
      showShiftNotice(frame.change, [frame.shift]);
      return;
    }
    if (!shiftBatch) {
      shiftBatch = { shifts: [] };
      setTimeout(function () {
        var batch = shiftBatch;
        shiftBatch = null;
        batch.shifts.sort(function (a, b) { return new Date(a.starts_at) - new Date(b.starts_at); });
        showShiftNotice("published", batch.shifts);
      }, SHIFT_BATCH_MS);
    }
    shiftBatch.shifts.push(frame.shift);
  }

  // --- supervisor's notes (extension) ------------------------------------------------------
  // Shown until dismissed. The snapshot repeats the latest note of the last hour, so the ids
  // dismissed on this device are remembered and not shown again after a reconnect.

  var NOTES_SEEN_KEY = "agent-notes-dismissed";

  function dismissedNotes() {
    try {
      return JSON.parse(window.localStorage.getItem(NOTES_SEEN_KEY) || "[]");
    } catch (err) {
      return [];
    }
  }

  function showSupervisorNote(frame) {
    if (!ui.noteBox || dismissedNotes().indexOf(frame.id) !== -1) return;
    ui.noteBox.dataset.noteId = String(frame.id);
    ui.noteFrom.textContent = interpolate(gettext("Note from %(name)s:"), { name: frame.from || gettext("your supervisor") }, true);
    ui.noteText.textContent = frame.text;
    ui.noteBox.hidden = false;
    buzz();
  }

  if (ui.noteDismiss) {
    ui.noteDismiss.addEventListener("click", function () {
      var id = parseInt(ui.noteBox.dataset.noteId, 10);
      ui.noteBox.hidden = true;
      if (isNaN(id)) return;
      try {
        window.localStorage.setItem(NOTES_SEEN_KEY, JSON.stringify(dismissedNotes().concat([id]).slice(-20)));
      } catch (err) {
        // Private mode: the note may come back after a reconnect; nothing worse.
      }
    });
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "presence":
        state.status = frame.status;
        renderStatus();
        if (frame.reason === "missed_offers") {
          showNotice(gettext("You were set away after missing 3 offers in a row"), true);
        } else if (frame.reason === "supervisor") {
          showNotice(gettext("A supervisor set you away. Go available again when you are ready."), true);
        }
        if (frame.reason === "suspended") showSuspended();
        break;
      case "supervisor.note":
        showSupervisorNote(frame);
        break;
      case "offer":
        addOffer(frame);
        break;
      case "offer.rescinded":
        if (removeOffer(frame.offer_id)) {
          showNotice(RESCIND_TEXT[frame.reason] || RESCIND_TEXT.cancelled);
        }
        break;
      case "ticket.assigned":
        if (frame.ticket) upsertChat(frame.ticket);
        break;
      case "message":
        addMessage(frame);
        break;
      case "ticket.updated":
        onTicketUpdated(frame);
        break;
      case "history":
        onHistory(frame);
        break;
      case "read":
        onRead(frame);
        break;
      case "typing":
        onTyping(frame);
        break;
      case "shift.updated":
        onShiftUpdated(frame);
        break;
      case "error":
        showError(frame);
        break;
      default:
        break;
    }
  }

  function onOpen() {
    state.sync = { offers: new Set(), tickets: new Set() };
    // The server answers frames in order, so the ack to this ping arrives only after the
    // whole snapshot has been sent: whatever it did not mention is gone.
    socket.send({ type: "ping" })
      .then(function () {
        var seen = state.sync;
        state.sync = null;
        if (!seen) return;
        Array.from(state.offers.keys()).forEach(function (id) {
          if (!seen.offers.has(id)) removeOffer(id);
        });
        var dropped = 0;
        Array.from(state.chats.keys()).forEach(function (id) {
          if (!seen.tickets.has(id) && removeChat(id)) dropped += 1;
        });
        if (dropped) {
          showNotice(interpolate(ngettext(
            "%(n)s chat was closed or handed on while you were disconnected.",
            "%(n)s chats were closed or handed on while you were disconnected.",
            dropped
          ), { n: dropped }, true));
        }
        if (state.openId == null && state.chats.size) openChat(state.chats.keys().next().value);
        if (pendingAction) runPendingAction();
      })
      .catch(function () { state.sync = null; });
  }

  // --- answering from a notification ------------------------------------------------------
  // A tap on Accept or Decline in a notification reaches this page as a message from the
  // service worker, or, when the app was closed, as ?offer=<id>&action=<accept|decline>
  // once the snapshot has brought the offer.

  var pendingAction = null;

  function runPendingAction() {
    var wanted = pendingAction;
    if (!wanted) return;
    var offer = state.offers.get(wanted.offerId);
    if (!offer) {
      // Not (yet) here: the snapshot is complete only when state.sync is cleared.
      if (!state.sync && state.connected) {
        pendingAction = null;
        showNotice(RESCIND_TEXT.expired);
      }
      return;
    }
    pendingAction = null;
    if (wanted.action === "accept") offer.accept();
    else if (wanted.action === "decline") offer.decline();
  }

  alerts.onAction(function (offerId, action) {
    // A tap on the notification itself only brings the app forward, where the card is.
    if (!action) return;
    pendingAction = { offerId: offerId, action: action };
    runPendingAction();
  });

  (function readActionFromUrl() {
    var params = new URLSearchParams(location.search);
    var offerId = parseInt(params.get("offer"), 10);
    var action = params.get("action");
    if (!isNaN(offerId) && (action === "accept" || action === "decline")) {
      pendingAction = { offerId: offerId, action: action };
    }
    if (params.has("offer")) history.replaceState(null, "", location.pathname);
  })();

  // --- first-day guide ---------------------------------------------------------------------
  // Closed once, it stays closed: a cookie the page reads, so a reload renders it closed.

  if (ui.guide) {
    var rememberGuide = function () {
      document.cookie = "agent_guide=" + (ui.guide.open ? "open" : "collapsed") +
        "; path=" + root.dataset.swScope + "; max-age=31536000; samesite=lax";
    };
    // "toggle" fires a task later; the dismiss button writes the cookie at once, so a reload
    // right after the tap already renders the guide closed.
    ui.guide.addEventListener("toggle", rememberGuide);
    if (ui.guideDismiss) {
      ui.guideDismiss.addEventListener("click", function () { ui.guide.open = false; rememberGuide(); });
    }
  }

  function onStatus(status, detail) {
    renderConnection(status);
    state.connected = status === "open";
    // Back online: an error that only said we were offline is no longer true.
    if (status === "open" && window.ReconnectingSocket.CONNECTION_ERRORS.indexOf(ui.errorBox.dataset.code) !== -1) {
      clearError();
    }
    if (status === "closed" && detail && (detail.code === 4401 || detail.code === 4403)) {
      showError(detail.code === 4401
        ? gettext("Your session has ended. Please log in again.")
        : gettext("This account is not an approved agent."));
    }
  }

  var socket = new window.ReconnectingSocket(root.dataset.wsPath, {
    onOpen: onOpen,
    onFrame: onFrame,
    onStatus: onStatus,
  });

  // The dock sticks right under the app bar, whose height depends on fonts and names.
  var appBar = document.querySelector(".app-bar");
  function measureAppBar() {
    if (appBar) document.documentElement.style.setProperty("--app-bar-h", appBar.offsetHeight + "px");
  }
  measureAppBar();
  window.addEventListener("resize", measureAppBar);

  // Login/logout confirmations are only worth a glance in a working app.
  var flash = document.querySelector('[data-testid="flash-messages"]');
  if (flash) setTimeout(function () { flash.hidden = true; }, 5000);

  renderStatus();
  updateCounter();
  socket.start();
})();
