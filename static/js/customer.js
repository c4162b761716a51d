/*
 * Customer chat: queue position, the conversation, confirming, rating and reopening.
 *
 * Each (re)connect replays the status and the end of the conversation, then a history
 * frame saying whether earlier messages exist ("Earlier messages" pages them in); messages
 * are keyed by id, so replays, pages and live pushes can overlap without duplicates.
 */
(function () {
  "use strict";

  var root = document.getElementById("customer-app");
  if (!root || !window.ReconnectingSocket) return;

  var MAX_CHARS = parseInt(root.dataset.maxChars, 10) || 4000;
  var CLOSED_STATES = ["resolved", "closed", "cancelled"];

  // The server's messages are English (the wire contract); the customer reads these.
  var ERROR_TEXT = {
    ticket_not_open: gettext("This conversation has ended. Reopen it to write again."),
    already_rated: gettext("You have already rated this conversation."),
    ticket_not_resolved: gettext("You can do that once your case is resolved."),
    reopen_window_passed: gettext("It's too late to reopen this conversation. Please start a new one."),
    already_confirmed: gettext("You have already told us this is solved. Thank you!"),
    rating_window_passed: gettext("It's too late to rate this conversation."),
    ticket_not_found: gettext("This chat link is not valid."),
    invalid_email: gettext("Please check your e-mail address."),
    ticket_not_waiting: gettext("An agent has your conversation now: write to them here."),
    invalid_comment: gettext("That comment can't be sent. Please check what you wrote."),
  };

  var $ = function (testid) {
    return document.querySelector('[data-testid="' + testid + '"]');
  };

  var ui = {
    connection: $("connection"),
    status: $("chat-status"),
    errorBox: $("error-box"),
    error: $("error"),
    errorDismiss: $("error-dismiss"),
    messages: $("messages"),
    messagesEmpty: $("messages-empty"),
    rating: $("rating"),
    stars: Array.prototype.slice.call(document.querySelectorAll("[data-testid^='rate-'][data-score]")),
    rateComment: $("rate-comment"),
    rateSubmit: $("rate-submit"),
    reopenBox: $("reopen-box"),
    reopen: $("reopen"),
    solved: $("solved-question"),
    solvedActions: $("solved-actions"),
    confirm: $("confirm-solved"),
    composer: $("composer"),
    input: $("message-input"),
    counter: $("message-counter"),
    send: $("message-send"),
    leave: $("leave-message"),
    leaveForm: $("leave-message-form"),
    leaveText: $("leave-message-text"),
    leaveEmail: $("leave-message-email"),
    leaveSubmit: $("leave-message-submit"),
    messageLeft: $("message-left"),
    attach: $("attach"),
    attachInput: $("attach-input"),
    typing: $("typing-indicator"),
  };

  var LANGUAGE = root.dataset.languageName || "";
  var fill = window.UI.fill;

  var state = {
    status: root.dataset.status || "queued",
    queuePosition: null,
    etaSeconds: null,
    agentName: null,
    // false: nobody who could take this chat is online (the server says so; null = not told).
    agentsOnline: null,
    // "lost" while the agent's connection is gone; reset on every (re)connect, the snapshot says again.
    agentConnection: null,
    notifyEmail: null,
    rating: null,
    score: 0,
    // Rating and reopening stay possible until the reopen window after the latest
    // resolution ends: the page says where it stands on load, a new resolution opens it.
    windowOpen: root.dataset.windowOpen === "true",
    // The customer said "Yes, it's solved" on this page.
    confirmed: false,
    messages: new Map(),
    history: { more: false, before: null },
    loadingHistory: false,
    invalid: false,
    unseen: 0,
    readByAgent: null, // the agent's read mark: our messages up to it show two ticks
    readSent: 0, // the newest message we told the server we have seen
    pending: [], // bubbles of messages not acknowledged yet, in the order written
  };

  var el = window.UI.el;

  var formatTime = window.UI.formatTime;

  function showError(err) {
    ui.error.textContent = window.UI.errorText(err, ERROR_TEXT);
    ui.errorBox.dataset.code = (err && err.code) || "";
    ui.errorBox.hidden = false;
    if (err && (err.code === "rating_window_passed" || err.code === "reopen_window_passed")) {
      state.windowOpen = false;
      renderStatus();
    }
  }

  function clearError() {
    ui.errorBox.hidden = true;
    ui.error.textContent = "";
    ui.errorBox.dataset.code = "";
  }

  ui.errorDismiss.addEventListener("click", clearError);

  // --- status line -------------------------------------------------------------------------

  function renderStatus() {
    var status = state.invalid ? "invalid" : state.status;
    var waiting = status === "queued" || status === "offered";
    var nobody = waiting && state.agentsOnline === false;
    var agentLost = status === "assigned" && state.agentConnection === "lost";
    ui.status.dataset.status = nobody ? "no-agents" : (agentLost ? "agent-lost" : status);
    ui.status.textContent = "";
    var line;
    if (status === "invalid") {
      line = el("p", { className: "status-invalid", text: gettext("This chat link is not valid. Please start the chat again from where you asked for help.") });
    } else if (nobody) {
      line = el("p", {
        className: "status-no-agents",
        "data-testid": "no-agents",
        text: LANGUAGE
          ? interpolate(gettext("No agent who speaks %(language)s is online right now."), { language: LANGUAGE }, true)
          : gettext("No agent who speaks your language is online right now."),
      });
    } else if (agentLost) {
      line = el("p", { className: "status-agent-lost", "data-testid": "agent-connection-lost", text: gettext("Your agent's connection dropped; waiting for them to come back.") });
    } else if (status === "queued" || status === "offered") {
      if (state.queuePosition != null) {
        var position = el("strong", { "data-testid": "queue-position", text: window.UI.formatNumber(state.queuePosition) });
        var parts = [el("span", { className: "spinner", "aria-hidden": "true" })]
          .concat(fill(gettext("You are number %(position)s in line"), { position: position }));
        if (state.etaSeconds != null) {
          var minutes = Math.max(1, Math.ceil(state.etaSeconds / 60));
          var eta = el("strong", { "data-testid": "queue-eta", text: window.UI.formatNumber(minutes) });
          parts = parts.concat(fill(ngettext(" · about %(minutes)s min", " · about %(minutes)s min", minutes), { minutes: eta }));
        }
        line = el("p", { className: "status-waiting" }, parts);
      } else {
        line = el("p", { className: "status-waiting" }, [
          el("span", { className: "spinner", "aria-hidden": "true" }),
          gettext("Finding an agent for you…"),
        ]);
      }
    } else if (status === "assigned") {
      var name = state.agentName || gettext("an agent");
      line = el("p", { className: "status-assigned" }, [
        el("span", { className: "agent-avatar", "aria-hidden": "true", text: name.charAt(0).toUpperCase() }),
        el("span", null, fill(gettext("You are chatting with %(name)s"), { name: el("strong", { "data-testid": "agent-name", text: name }) })),
      ]);
    } else if (status === "resolved") {
      line = el("p", {
        className: "status-resolved",
        text: state.agentName
          ? interpolate(gettext("%(name)s marked this as resolved. How did we do?"), { name: state.agentName }, true)
          : gettext("Your case was marked as resolved. How did we do?"),
      });
    } else if (status === "closed") {
      if (state.rating != null) {
        line = el("p", { className: "status-closed" }, fill(gettext("Thanks for your feedback! You rated %(score)s/5."), {
          score: el("strong", { "data-testid": "rated-score", text: String(state.rating) }),
        }));
      } else if (state.confirmed) {
        line = el("p", {
          className: "status-closed",
          "data-testid": "confirmed-thanks",
          text: canRate()
            ? gettext("Thank you! We're glad it's solved. You can still rate the help you got below.")
            : gettext("Thank you! We're glad it's solved."),
        });
      } else {
        line = el("p", { className: "status-closed", text: gettext("This conversation is closed.") });
      }
    } else if (status === "cancelled") {
      line = el("p", { className: "status-cancelled", text: gettext("This conversation has ended.") });
    } else {
      line = el("p", { text: status });
    }
    ui.status.appendChild(line);

    var ended = state.invalid || CLOSED_STATES.indexOf(status) !== -1;
    ui.input.disabled = ended;
    if (ui.attach) ui.attach.disabled = ended;
    ui.input.placeholder = ended
      ? (status === "cancelled" || state.invalid ? gettext("This conversation has ended") : gettext("Reopen to write again"))
      : gettext("Write a message…");
    ui.rating.hidden = !canRate();
    renderLeaveMessage(nobody, waiting);
    renderSolved(status);
    updateCounter();
  }

  function canRate() {
    if (state.invalid) return false;
    return state.status === "resolved" || (state.status === "closed" && state.rating == null && state.windowOpen);
  }

  // Resolved: "Is your problem solved?" with Yes and "No, reopen" (the reopen button, moved
  // in). Closed: the reopen button on its own, while the window lasts.
  function renderSolved(status) {
    var resolved = status === "resolved" && !state.invalid;
    ui.solved.hidden = !resolved;
    var home = resolved ? ui.solvedActions : ui.reopenBox;
    if (ui.reopen.parentNode !== home) home.appendChild(ui.reopen);
    ui.reopen.textContent = resolved ? ui.reopen.dataset.labelResolved : ui.reopen.dataset.labelClosed;
    ui.reopenBox.hidden = !(status === "closed" && state.windowOpen && !state.invalid);
  }

  // --- messages ----------------------------------------------------------------------------

  function messageNode(message) {
    var sender = message.sender || "system";
    var label = null;
    if (sender === "agent") label = state.agentName || gettext("Agent");
    else if (sender === "bot") label = gettext("Assistant");
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
          sender === "customer" ? window.UI.ticksNode(state.readByAgent != null && message.id <= state.readByAgent) : null,
        ]),
      ]),
    ]);
  }

  // New messages go above the bubbles still waiting for their ack.
  function appendMessageNode(node) {
    var firstPending = state.pending.length ? state.pending[0].node : null;
    ui.messages.insertBefore(node, firstPending && firstPending.parentNode === ui.messages ? firstPending : null);
  }

  function nearBottom() {
    var doc = document.scrollingElement || document.documentElement;
    return doc.scrollHeight - (doc.scrollTop + window.innerHeight) < 160;
  }

  function scrollToBottom() {
    requestAnimationFrame(function () {
      var doc = document.scrollingElement || document.documentElement;
      window.scrollTo(0, doc.scrollHeight);
    });
  }

  function addMessage(message) {
    if (message.id == null) return;
    var known = state.messages.get(message.id);
    // A stand-in made from our own text when the ack came first gives way to the real one.
    if (known && !known.local) return;
    var stick = nearBottom() || message.sender === "customer";
    var maxId = 0;
    state.messages.forEach(function (_, id) { if (id > maxId) maxId = id; });
    state.messages.set(message.id, message);
    if (message.id > maxId && !known) {
      appendMessageNode(messageNode(message));
    } else {
      renderMessages();
    }
    if (message.sender === "agent") typingIndicator.hide();
    ui.messagesEmpty.hidden = true;
    if (stick) scrollToBottom();
    if (document.hidden && message.sender !== "customer") {
      state.unseen += 1;
      document.title = "(" + state.unseen + ") " + baseTitle;
    }
    if (message.sender !== "customer") sendRead();
  }

  // --- read marks and typing ---------------------------------------------------------------

  // Tell the server (and so the agent) how far we have read, when the chat is in view.
  function sendRead() {
    if (document.visibilityState !== "visible" || !socket.isOpen()) return;
    var newest = 0;
    state.messages.forEach(function (message, id) {
      if (message.sender !== "customer" && !message.local && id > newest) newest = id;
    });
    if (newest <= state.readSent) return;
    state.readSent = newest;
    socket.send({ type: "read", up_to: newest }).catch(function () { state.readSent = 0; });
  }

  function onRead(frame) {
    if (frame.reader !== "agent" || typeof frame.up_to !== "number") return;
    if (state.readByAgent == null || frame.up_to > state.readByAgent) state.readByAgent = frame.up_to;
    window.UI.setTicks(ui.messages, "customer", state.readByAgent);
  }

  var typingIndicator = new window.UI.TypingIndicator(ui.typing);

  var sendTyping = window.UI.typingThrottle(function () {
    if (socket.isOpen() && state.status === "assigned") socket.send({ type: "typing" }).catch(function () {});
  });

  function renderMessages() {
    ui.messages.textContent = "";
    if (state.history.more) ui.messages.appendChild(historyButton());
    Array.from(state.messages.values())
      .sort(function (a, b) { return a.id - b.id; })
      .forEach(function (m) { ui.messages.appendChild(messageNode(m)); });
    state.pending.forEach(function (entry) { ui.messages.appendChild(entry.node); });
    ui.messagesEmpty.hidden = state.messages.size > 0 || state.pending.length > 0;
  }

  // --- earlier messages --------------------------------------------------------------------

  function historyButton() {
    return window.UI.historyButton(state.loadingHistory, loadEarlier);
  }

  function loadEarlier() {
    if (state.loadingHistory || !state.history.more) return;
    state.loadingHistory = true;
    renderMessages();
    // The page arrives as a history frame just before this request's ack.
    socket.send({ type: "history", before: state.history.before })
      .catch(showError)
      .then(function () {
        state.loadingHistory = false;
        keepScrollFromBottom(renderMessages);
      });
  }

  function onHistory(frame) {
    var page = frame.messages || [];
    page.forEach(function (message) {
      if (message.id != null) state.messages.set(message.id, message);
    });
    if (page.length) {
      state.history = { more: !!frame.more, before: frame.before };
    } else if (state.history.before == null || (frame.before != null && frame.before <= state.history.before)) {
      // The cursor at the end of a (re)connect: keep ours if we have paged further back.
      state.history = { more: !!frame.more, before: frame.before };
    }
    keepScrollFromBottom(renderMessages);
  }

  // Older messages go in above what the customer is reading: keep that where it was.
  function keepScrollFromBottom(render) {
    window.UI.keepScrollFromBottom(document.scrollingElement || document.documentElement, render);
  }

  var baseTitle = document.title;
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      state.unseen = 0;
      document.title = baseTitle;
      sendRead();
    }
  });

  // --- composer ----------------------------------------------------------------------------

  function autoGrow() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 160) + "px";
  }

  function updateCounter() {
    var length = ui.input.value.length;
    ui.counter.textContent = window.UI.formatNumber(length) + " / " + window.UI.formatNumber(MAX_CHARS);
    ui.counter.classList.toggle("is-near-limit", length > MAX_CHARS * 0.9);
    ui.send.disabled = ui.input.disabled || ui.input.readOnly || ui.input.value.trim() === "";
  }

  window.UI.bindComposer(ui.composer, ui.input, function () {
    updateCounter();
    autoGrow();
    if (ui.input.value.trim() !== "") sendTyping();
  }, function () { sendMessage(); });

  // The message shows at once as "Sending…" and goes out through the socket's outbox: now,
  // or once the connection is back. The ack names the stored message.
  function sendMessage() {
    var text = ui.input.value;
    if (ui.input.disabled || ui.input.readOnly || text.trim() === "") return;
    if (text.length > MAX_CHARS) {
      showError(interpolate(ngettext("Messages are limited to %(n)s character.", "Messages are limited to %(n)s characters.", MAX_CHARS), { n: window.UI.formatNumber(MAX_CHARS) }, true));
      return;
    }
    ui.input.value = "";
    autoGrow();
    updateCounter();
    var entry = { text: text.trim(), node: window.UI.pendingNode("customer", text.trim()) };
    state.pending.push(entry);
    ui.messages.appendChild(entry.node);
    ui.messagesEmpty.hidden = true;
    scrollToBottom();
    socket.send({ type: "message", text: text }, { resend: true })
      .then(function (ack) {
        dropPending(entry);
        if (ack && ack.message_id != null && !state.messages.has(ack.message_id)) {
          addMessage({ id: ack.message_id, sender: "customer", text: entry.text, sent_at: new Date().toISOString(), local: true });
        }
        clearError();
      })
      .catch(function (err) {
        dropPending(entry);
        // Refused: give the text back so nothing typed is lost.
        if (ui.input.value === "" && !ui.input.disabled) {
          ui.input.value = text;
          autoGrow();
          updateCounter();
        }
        showError(err);
      });
  }

  function dropPending(entry) {
    var at = state.pending.indexOf(entry);
    if (at !== -1) state.pending.splice(at, 1);
    entry.node.remove();
  }

  // --- attachments -----------------------------------------------------------------------------

  var ATTACHMENT_MAX = parseInt(root.dataset.attachmentMax, 10) || 5 * 1024 * 1024;

  ui.attach.addEventListener("click", function () {
    if (!ui.input.disabled) ui.attachInput.click();
  });

  ui.attachInput.addEventListener("change", function () {
    var file = ui.attachInput.files && ui.attachInput.files[0];
    ui.attachInput.value = "";
    if (!file) return;
    if (file.size > ATTACHMENT_MAX) {
      showError(interpolate(gettext("Files are limited to %(size)s."), { size: window.UI.formatSize(ATTACHMENT_MAX) }, true));
      return;
    }
    ui.attach.setAttribute("aria-busy", "true");
    ui.attach.disabled = true;
    window.UI.uploadFile(root.dataset.attachUrl, file)
      .then(function (frame) {
        addMessage(frame);
        clearError();
      })
      .catch(showError)
      .then(function () {
        ui.attach.removeAttribute("aria-busy");
        ui.attach.disabled = ui.input.disabled;
      });
  });

  // --- leave a message while nobody is online ---------------------------------------------

  function renderLeaveMessage(nobody, waiting) {
    var left = waiting && !!state.notifyEmail;
    ui.leave.hidden = !nobody || left;
    ui.messageLeft.hidden = !left;
    if (left) {
      ui.messageLeft.textContent = interpolate(
        gettext("Thanks. We'll e-mail %(email)s with a link back to this chat as soon as an agent answers. You can also keep this page open."),
        { email: state.notifyEmail },
        true
      );
    }
  }

  ui.leaveForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = ui.leaveText.value.trim();
    var email = ui.leaveEmail.value.trim();
    if (!email) {
      showError(gettext("Please give your e-mail address, so we can tell you when an agent answers."));
      ui.leaveEmail.focus();
      return;
    }
    ui.leaveSubmit.disabled = true;
    ui.leaveSubmit.setAttribute("aria-busy", "true");
    // The address first: a refused one should not leave the message sent on its own.
    socket.send({ type: "notify_me", email: email })
      .then(function () {
        state.notifyEmail = email;
        return text ? socket.send({ type: "message", text: text }) : null;
      })
      .then(function () {
        ui.leaveText.value = "";
        clearError();
        renderStatus();
      })
      .catch(showError)
      .then(function () {
        ui.leaveSubmit.disabled = false;
        ui.leaveSubmit.removeAttribute("aria-busy");
      });
  });

  // --- rating and reopen ---------------------------------------------------------------------

  function renderStars() {
    ui.stars.forEach(function (star) {
      var score = parseInt(star.dataset.score, 10);
      star.setAttribute("aria-pressed", score === state.score ? "true" : "false");
      star.classList.toggle("is-on", score <= state.score);
    });
    ui.rateSubmit.disabled = state.score < 1;
  }

  ui.stars.forEach(function (star) {
    star.addEventListener("click", function () {
      state.score = parseInt(star.dataset.score, 10);
      renderStars();
    });
  });

  ui.rateSubmit.addEventListener("click", function () {
    if (state.score < 1) return;
    ui.rateSubmit.disabled = true;
    ui.rateSubmit.setAttribute("aria-busy", "true");
    var frame = { type: "rate", score: state.score };
    var comment = ui.rateComment.value.trim();
    if (comment) frame.comment = comment;
    socket.send(frame)
      .then(function () {
        clearError();
        // The server confirms with a ticket.updated push; don't wait for it to
        // thank the customer.
        if (state.status === "resolved" || state.status === "closed") {
          state.status = "closed";
          state.rating = frame.score;
          renderStatus();
        }
      })
      .catch(showError)
      .then(function () {
        ui.rateSubmit.removeAttribute("aria-busy");
        renderStars();
      });
  });

  ui.confirm.addEventListener("click", function () {
    ui.confirm.disabled = true;
    ui.confirm.setAttribute("aria-busy", "true");
    socket.send({ type: "confirm" })
      .then(function () {
        clearError();
        // Closed as confirmed; the ticket.updated push says so too.
        state.confirmed = true;
        if (state.status === "resolved") state.status = "closed";
        renderStatus();
      })
      .catch(showError)
      .then(function () {
        ui.confirm.disabled = false;
        ui.confirm.removeAttribute("aria-busy");
      });
  });

  ui.reopen.addEventListener("click", function () {
    ui.reopen.disabled = true;
    ui.reopen.setAttribute("aria-busy", "true");
    socket.send({ type: "reopen" })
      .then(clearError)
      .catch(showError)
      .then(function () {
        ui.reopen.disabled = false;
        ui.reopen.removeAttribute("aria-busy");
      });
  });

  // --- frames ----------------------------------------------------------------------------------

  function onTicketUpdated(frame) {
    var previous = state.status;
    state.status = frame.status || state.status;
    state.queuePosition = typeof frame.queue_position === "number" ? frame.queue_position : null;
    state.etaSeconds = typeof frame.eta_seconds === "number" ? frame.eta_seconds : null;
    if (frame.agent && frame.agent.display_name) state.agentName = frame.agent.display_name;
    // Frames about other changes do not repeat it: keep it while the ticket stays queued.
    if (typeof frame.agents_online === "boolean") state.agentsOnline = frame.agents_online;
    else if (state.status !== "queued") state.agentsOnline = null;
    if (typeof frame.notify_email === "string") state.notifyEmail = frame.notify_email;
    if (frame.agent_connection) state.agentConnection = frame.agent_connection;
    if (state.status !== "assigned") state.agentConnection = null;
    if ("rating" in frame) state.rating = frame.rating;
    // A new resolution opens a new window to rate or reopen in.
    if (state.status === "resolved") state.windowOpen = true;
    if (state.status !== "closed") state.confirmed = false;
    if (!canRate()) {
      state.score = 0;
      ui.rateComment.value = "";
      renderStars();
    }
    renderStatus();
    if (previous !== state.status && nearBottom()) scrollToBottom();
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "ticket.updated":
        onTicketUpdated(frame);
        break;
      case "message":
        addMessage(frame);
        break;
      case "history":
        onHistory(frame);
        sendRead();
        break;
      case "read":
        onRead(frame);
        break;
      case "typing":
        if (frame.sender === "agent") typingIndicator.show(state.agentName || gettext("Your agent"));
        break;
      case "error":
        // An unknown link is explained by the status line once the socket closes.
        if (frame.code !== "ticket_not_found") showError(frame);
        break;
      default:
        break;
    }
  }

  function onStatus(status, detail) {
    ui.connection.textContent = window.UI.connectionText(status);
    ui.connection.dataset.state = status;
    // Back online: an error that only said we were offline is no longer true.
    if (status === "open" && window.ReconnectingSocket.CONNECTION_ERRORS.indexOf(ui.errorBox.dataset.code) !== -1) {
      clearError();
    }
    // The snapshot after a (re)connect says again whether the agent's connection is lost.
    if (status === "open") state.agentConnection = null;
    if (status === "closed" && detail && detail.code === 4404) {
      state.invalid = true;
      renderStatus();
    }
  }

  var socket = new window.ReconnectingSocket(root.dataset.wsPath, {
    onFrame: onFrame,
    onStatus: onStatus,
  });

  renderStars();
  updateCounter();
  socket.start();
})();
