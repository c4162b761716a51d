/*
 * Reconnecting JSON websocket shared by the agent app and the customer chat.
 *
 * send(frame) tags the frame with a ref and returns a Promise that settles on the
 * server's ack/error for that ref. While disconnected it rejects at once instead of
 * queueing: a queued "accept offer" replayed minutes later would surprise the user.
 *
 * send(frame, {resend: true}) is for chat messages, which the user expects to go out once
 * the connection is back: the frame waits in an outbox until it is acknowledged, and is
 * sent again, in order and with the same ref, after every reconnect. The server keeps a
 * message's ref, so a copy that had arrived before the drop is acknowledged (with the
 * first copy's id) and not stored twice. Refs are unique per page load for that reason.
 */
(function () {
  "use strict";

  var MIN_DELAY_MS = 500;
  var MAX_DELAY_MS = 10000;
  // A connection must stay up this long before the backoff starts over, so a server
  // that accepts and immediately drops us is not hammered every half second.
  var STABLE_AFTER_MS = 5000;
  // The server will never accept these again for this page: 4401 not logged in,
  // 4403 not an agent, 4404 unknown chat link.
  var FINAL_CODES = [4401, 4403, 4404];
  // The server closed us for sending too many frames: come back, but not at once.
  var FLOOD_CODE = 4429;
  var FLOOD_BACKOFF_ATTEMPT = 4;

  function SocketError(code, message) {
    var err = new Error(message);
    err.name = "SocketError";
    err.code = code;
    return err;
  }

  // A reload starts a new series of refs that can never repeat an earlier page's.
  var PAGE_ID = (window.crypto && window.crypto.randomUUID)
    ? window.crypto.randomUUID()
    : Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);

  function socketUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  function ReconnectingSocket(path, options) {
    options = options || {};
    this.path = path;
    this.onOpen = options.onOpen || function () {};
    this.onFrame = options.onFrame || function () {};
    this.onStatus = options.onStatus || function () {};
    this.pingIntervalMs = options.pingIntervalMs || 25000;
    this.ackTimeoutMs = options.ackTimeoutMs || 10000;

    this.ws = null;
    this.status = "idle";
    this.closeCode = null;
    this.attempt = 0;
    this.nextRef = 1;
    this.pending = new Map();
    this.outbox = []; // resend entries not acknowledged yet, oldest first
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.stableTimer = null;
    this.stopped = false;

    var self = this;
    // Phones drop sockets when the screen locks; come back straight away instead of
    // waiting out a long backoff once the page is usable again.
    window.addEventListener("online", function () { self.reconnectSoon(); });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") self.reconnectSoon();
    });
  }

  ReconnectingSocket.prototype.setStatus = function (status, detail) {
    this.status = status;
    try {
      this.onStatus(status, detail || {});
    } catch (err) {
      console.error(err);
    }
  };

  ReconnectingSocket.prototype.isOpen = function () {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  };

  ReconnectingSocket.prototype.start = function () {
    this.stopped = false;
    this.connect();
  };

  ReconnectingSocket.prototype.connect = function () {
    var self = this;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.setStatus(this.attempt === 0 && this.status === "idle" ? "connecting" : "reconnecting");

    var ws;
    try {
      ws = new WebSocket(socketUrl(this.path));
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;

    ws.addEventListener("open", function () {
      if (self.ws !== ws) return;
      self.stableTimer = setTimeout(function () { self.attempt = 0; }, STABLE_AFTER_MS);
      self.pingTimer = setInterval(function () { self.ping(); }, self.pingIntervalMs);
      self.setStatus("open");
      try {
        self.onOpen();
      } catch (err) {
        console.error(err);
      }
      self.flushOutbox();
    });

    ws.addEventListener("message", function (event) {
      if (self.ws !== ws) return;
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (!frame || typeof frame !== "object") return;
      self.handleFrame(frame);
    });

    ws.addEventListener("close", function (event) {
      if (self.ws !== ws) return;
      self.ws = null;
      clearInterval(self.pingTimer);
      clearTimeout(self.stableTimer);
      self.failPending("connection_lost", gettext("The connection dropped before the server answered. Please check and try again."));
      if (FINAL_CODES.indexOf(event.code) !== -1) {
        self.stopped = true;
        self.closeCode = event.code;
        self.setStatus("closed", { code: event.code, reason: event.reason });
        return;
      }
      if (self.stopped) {
        self.setStatus("closed", { code: event.code });
        return;
      }
      if (event.code === FLOOD_CODE) self.attempt = Math.max(self.attempt, FLOOD_BACKOFF_ATTEMPT);
      self.scheduleReconnect();
    });
  };

  ReconnectingSocket.prototype.handleFrame = function (frame) {
    if ((frame.type === "ack" || frame.type === "error") && frame.ref != null) {
      var waiter = this.pending.get(String(frame.ref));
      if (waiter) {
        this.pending.delete(String(frame.ref));
        clearTimeout(waiter.timer);
        if (frame.type === "ack") {
          waiter.resolve(frame);
        } else {
          waiter.reject(SocketError(frame.code || "error", frame.message || gettext("The server refused this.")));
        }
        return;
      }
    }
    try {
      this.onFrame(frame);
    } catch (err) {
      console.error(err);
    }
  };

  ReconnectingSocket.prototype.scheduleReconnect = function () {
    if (this.stopped) return;
    var base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * Math.pow(2, this.attempt));
    var delay = Math.min(MAX_DELAY_MS, base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.setStatus("reconnecting", { inMs: delay });
    var self = this;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(function () { self.connect(); }, delay);
  };

  ReconnectingSocket.prototype.reconnectSoon = function () {
    if (this.stopped || this.ws || !this.reconnectTimer) return;
    this.attempt = 0;
    this.connect();
  };

  ReconnectingSocket.prototype.failPending = function (code, message) {
    var waiters = Array.from(this.pending.values());
    this.pending.clear();
    waiters.forEach(function (waiter) {
      clearTimeout(waiter.timer);
      // Outbox entries stay in the outbox: they go again after the reconnect.
      if (!waiter.resend) waiter.reject(SocketError(code, message));
    });
  };

  ReconnectingSocket.prototype.flushOutbox = function () {
    var self = this;
    this.outbox.forEach(function (entry) {
      if (!self.isOpen() || self.pending.has(entry.ref)) return;
      self.pending.set(entry.ref, entry);
      try {
        self.ws.send(entry.text);
      } catch (err) {
        self.pending.delete(entry.ref);
      }
    });
  };

  ReconnectingSocket.prototype.queueForResend = function (payload) {
    var self = this;
    return new Promise(function (resolve, reject) {
      var entry = { ref: payload.ref, text: JSON.stringify(payload), resend: true, timer: null };
      function settle() {
        var at = self.outbox.indexOf(entry);
        if (at !== -1) self.outbox.splice(at, 1);
      }
      entry.resolve = function (frame) { settle(); resolve(frame); };
      entry.reject = function (err) { settle(); reject(err); };
      self.outbox.push(entry);
      self.flushOutbox();
    });
  };

  ReconnectingSocket.prototype.send = function (frame, options) {
    var ref = PAGE_ID + ":" + this.nextRef++;
    var payload = Object.assign({}, frame, { ref: ref });
    if (options && options.resend) return this.queueForResend(payload);
    if (!this.isOpen()) {
      return Promise.reject(SocketError("not_connected", gettext("Not connected. We are trying to reconnect; please try again in a moment.")));
    }
    var self = this;
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        if (self.pending.delete(ref)) {
          reject(SocketError("timeout", gettext("The server did not answer in time. Please try again.")));
        }
      }, self.ackTimeoutMs);
      self.pending.set(ref, { resolve: resolve, reject: reject, timer: timer });
      try {
        self.ws.send(JSON.stringify(payload));
      } catch (err) {
        self.pending.delete(ref);
        clearTimeout(timer);
        reject(SocketError("not_connected", gettext("Not connected. Please try again in a moment.")));
      }
    });
  };

  ReconnectingSocket.prototype.ping = function () {
    var ws = this.ws;
    var self = this;
    return this.send({ type: "ping" }).catch(function (err) {
      // No answer on an open socket means it is half-dead (common on mobile
      // networks); drop it so the reconnect logic takes over.
      if (err.code === "timeout" && self.ws === ws && ws) {
        try { ws.close(); } catch (e) { /* already closing */ }
      }
    });
  };

  ReconnectingSocket.prototype.close = function () {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.ws) this.ws.close(1000);
  };

  // Errors that only say the connection was not there; a reconnect makes them stale.
  ReconnectingSocket.CONNECTION_ERRORS = ["not_connected", "connection_lost", "timeout"];

  window.ReconnectingSocket = ReconnectingSocket;
  window.SocketError = SocketError;
})();
