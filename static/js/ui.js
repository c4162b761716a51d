/*
 * DOM helpers shared by the agent app and the customer chat. Text always goes in through
 * textContent, never innerHTML, so nothing a customer types can become markup.
 */

// The script catalogue (/jsi18n/, loaded before the page's scripts) defines gettext and its
// kin. Should it fail to load, the page must still work, in the source language.
(function (global) {
  "use strict";
  if (typeof global.gettext === "function") return;
  global.gettext = function (msgid) { return msgid; };
  global.ngettext = function (singular, plural, count) { return count == 1 ? singular : plural; };
  global.pgettext = function (context, msgid) { return msgid; };
  global.npgettext = function (context, singular, plural, count) { return count == 1 ? singular : plural; };
  global.interpolate = function (fmt, obj, named) {
    if (named) return fmt.replace(/%\(\w+\)s/g, function (match) { return String(obj[match.slice(2, -2)]); });
    return fmt.replace(/%s/g, function () { return String(obj.shift()); });
  };
})(window);

(function () {
  "use strict";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value == null || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else node.setAttribute(key, value === true ? "" : value);
      });
    }
    (children || []).forEach(function (child) {
      if (child == null) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  // Numbers, money and dates follow the page's language (the <html lang> the server chose),
  // not the browser's, so a Swedish page never shows an English date.
  function lang() {
    return document.documentElement.lang || undefined;
  }

  function formatTime(iso) {
    if (!iso) return "";
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    return date.toLocaleTimeString(lang(), { hour: "2-digit", minute: "2-digit" });
  }

  function formatDate(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    return date.toLocaleDateString(lang(), { day: "numeric", month: "short" }) + " " + formatTime(iso);
  }

  // amount is the API's decimal string ("45.00"); `sign` shows a plus on earnings.
  function formatMoney(amount, currency, sign) {
    if (amount == null) return "";
    var number = Number(amount);
    if (currency && !isNaN(number)) {
      try {
        return new Intl.NumberFormat(lang(), {
          style: "currency",
          currency: currency,
          signDisplay: sign ? "exceptZero" : "auto",
        }).format(number);
      } catch (err) {
        // An unknown currency code: show it as it came.
      }
    }
    return (sign ? "+" : "") + amount + (currency ? " " + currency : "");
  }

  function formatNumber(value, options) {
    try {
      return new Intl.NumberFormat(lang(), options).format(value);
    } catch (err) {
      return String(value);
    }
  }

  // A translated sentence with %(name)s placeholders, as a list of text and nodes for el():
  // the words around a highlighted figure may come in any order in another language.
  function fill(format, values) {
    return format.split(/(%\(\w+\)s)/).filter(Boolean).map(function (part) {
      var match = /^%\((\w+)\)s$/.exec(part);
      if (!match) return part;
      var value = values[match[1]];
      return value == null ? "" : (typeof value === "object" ? value : String(value));
    });
  }

  // Enter sends, Shift+Enter is a new line, typing updates the counter and the height.
  function bindComposer(form, input, onInput, send) {
    input.addEventListener("input", onInput);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send();
    });
  }

  // The "Earlier messages" button at the top of a conversation that starts mid-way.
  function historyButton(loading, onClick) {
    var button = el("button", {
      type: "button",
      className: "secondary outline",
      "data-testid": "history-more",
      text: loading ? gettext("Loading…") : gettext("Earlier messages"),
    });
    button.disabled = loading;
    button.addEventListener("click", onClick);
    return el("li", { className: "history-more", style: "align-self: center; list-style: none;" }, [button]);
  }

  // Re-render `box` (a scrolling element) without moving what the reader is looking at,
  // when earlier messages are added above it.
  function keepScrollFromBottom(box, render) {
    var fromBottom = box.scrollHeight - box.scrollTop;
    render();
    box.scrollTop = box.scrollHeight - fromBottom;
  }

  // --- chat basics shared by both chats: files, ticks, typing, the outbox bubble -------------

  var ATTACHMENT_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf"];

  function formatSize(bytes) {
    if (bytes == null) return "";
    if (bytes < 1024) return interpolate(gettext("%(n)s B"), { n: formatNumber(bytes) }, true);
    if (bytes < 1024 * 1024) return interpolate(gettext("%(n)s KB"), { n: formatNumber(Math.round(bytes / 1024)) }, true);
    return interpolate(gettext("%(n)s MB"), { n: formatNumber(bytes / (1024 * 1024), { maximumFractionDigits: 1, minimumFractionDigits: 1 }) }, true);
  }

  // An image inline (a thumbnail that opens the full file), anything else as a link.
  function attachmentNode(attachment) {
    if (!attachment || !attachment.url) return null;
    var isImage = /^image\//.test(attachment.content_type || "");
    if (isImage) {
      return el("a", { className: "attachment attachment-image", href: attachment.url, target: "_blank", rel: "noopener" }, [
        el("img", { src: attachment.url, alt: attachment.name || gettext("Image"), loading: "lazy", "data-testid": "attachment-image" }),
      ]);
    }
    return el("a", { className: "attachment attachment-file", href: attachment.url, "data-testid": "attachment-file", download: attachment.name || true }, [
      el("span", { className: "attachment-icon", "aria-hidden": "true", text: "PDF" }),
      el("span", { className: "attachment-name", text: attachment.name || gettext("File") }),
      el("small", { className: "attachment-size", text: formatSize(attachment.size) }),
    ]);
  }

  // Own messages: one tick once the server has it, two once the other side has seen it.
  function ticksNode(read) {
    return el("span", {
      className: "ticks" + (read ? " is-read" : ""),
      "data-testid": "ticks",
      "data-state": read ? "read" : "delivered",
      title: read ? gettext("Read") : gettext("Delivered"),
      "aria-label": read ? gettext("Read") : gettext("Delivered"),
      text: read ? "✓✓" : "✓",
    });
  }

  function setTicks(list, ownSender, readUpTo) {
    Array.prototype.forEach.call(list.querySelectorAll('[data-testid="message"][data-sender="' + ownSender + '"]'), function (node) {
      var id = parseInt(node.dataset.messageId, 10);
      var old = node.querySelector('[data-testid="ticks"]');
      if (!old || isNaN(id)) return;
      var read = readUpTo != null && id <= readUpTo;
      if ((old.dataset.state === "read") !== read) old.replaceWith(ticksNode(read));
    });
  }

  // A message written while the connection is away, or not yet acknowledged.
  function pendingNode(sender, text) {
    return el("li", { className: "message message-" + sender + " is-pending", "data-testid": "message-pending", "data-sender": sender }, [
      el("div", { className: "bubble" }, [
        el("span", { className: "message-text", text: text }),
        el("small", { className: "message-time", text: gettext("Sending…") }),
      ]),
    ]);
  }

  // "<name> is typing…" for a few seconds after each typing frame.
  function TypingIndicator(node, showForMs) {
    this.node = node;
    this.showForMs = showForMs || 4000;
    this.timer = null;
  }
  TypingIndicator.prototype.show = function (name) {
    var self = this;
    this.node.textContent = name
      ? interpolate(gettext("%(name)s is typing…"), { name: name }, true)
      : gettext("Someone is typing…");
    this.node.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.hide(); }, this.showForMs);
  };
  TypingIndicator.prototype.hide = function () {
    clearTimeout(this.timer);
    this.node.hidden = true;
    this.node.textContent = "";
  };

  // At most one typing frame per interval while the user types.
  function typingThrottle(send, intervalMs) {
    var last = 0;
    return function () {
      var now = Date.now();
      if (now - last < (intervalMs || 2500)) return;
      last = now;
      send();
    };
  }

  // The connection line in the app bar of both chats.
  function connectionText(status) {
    var text = {
      connecting: gettext("Connecting…"),
      open: gettext("Connected"),
      reconnecting: gettext("Reconnecting…"),
      closed: gettext("Disconnected"),
    }[status];
    return text || status;
  }

  // What the user reads for a refusal: the page's own text for the code, else a text for the
  // codes any chat may meet, else the server's message (English: the wire contract's). The
  // connection errors socket.js makes are translated where they are made.
  var COMMON_ERRORS = {
    rate_limited: gettext("That was a lot at once. Please wait a moment and try again."),
    service_unavailable: gettext("The service is busy right now. Please try again in a moment."),
    server_error: gettext("Something went wrong on our side. Please try again."),
    invalid_text: gettext("That message can't be sent. Please check what you wrote."),
    text_too_long: gettext("That message is too long."),
    attachment_too_large: gettext("That file is too large to send."),
    attachment_type_not_allowed: gettext("Only photos (JPEG, PNG, WebP, GIF) and PDF files can be sent."),
    attachment_not_found: gettext("That file is no longer available."),
  };

  function errorText(err, pageErrors) {
    if (!err) return gettext("Something went wrong.");
    if (typeof err === "string") return err;
    return (pageErrors && pageErrors[err.code]) || COMMON_ERRORS[err.code] || err.message || gettext("Something went wrong.");
  }

  // POST a file as multipart; resolves with the stored message frame, rejects with
  // {code, message} from the error shape.
  function uploadFile(url, file, headers) {
    var body = new FormData();
    body.append("file", file);
    return fetch(url, { method: "POST", body: body, headers: headers || {}, credentials: "same-origin" })
      .catch(function () {
        throw { code: "not_connected", message: gettext("The file could not be sent: no connection. Please try again.") };
      })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (response.ok) return data;
          var error = (data && data.error) || {};
          throw { code: error.code || "error", message: error.message || gettext("The file could not be sent.") };
        });
      });
  }

  window.UI = {
    el: el,
    lang: lang,
    formatTime: formatTime,
    formatDate: formatDate,
    formatMoney: formatMoney,
    formatNumber: formatNumber,
    fill: fill,
    bindComposer: bindComposer,
    historyButton: historyButton,
    keepScrollFromBottom: keepScrollFromBottom,
    ATTACHMENT_TYPES: ATTACHMENT_TYPES,
    formatSize: formatSize,
    attachmentNode: attachmentNode,
    ticksNode: ticksNode,
    setTicks: setTicks,
    pendingNode: pendingNode,
    TypingIndicator: TypingIndicator,
    typingThrottle: typingThrottle,
    uploadFile: uploadFile,
    errorText: errorText,
    connectionText: connectionText,
  };
})();
