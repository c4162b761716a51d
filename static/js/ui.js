/*
 * DOM helpers shared by the agent app and the customer chat. Text always goes in through
 * textContent, never innerHTML, so nothing a customer types can become markup.
 */
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

  function formatTime(iso) {
    if (!iso) return "";
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
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
      text: loading ? "Loading…" : "Earlier messages",
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
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  // An image inline (a thumbnail that opens the full file), anything else as a link.
  function attachmentNode(attachment) {
    if (!attachment || !attachment.url) return null;
    var isImage = /^image\//.test(attachment.content_type || "");
    if (isImage) {
      return el("a", { className: "attachment attachment-image", href: attachment.url, target: "_blank", rel: "noopener" }, [
        el("img", { src: attachment.url, alt: attachment.name || "Image", loading: "lazy", "data-testid": "attachment-image" }),
      ]);
    }
    return el("a", { className: "attachment attachment-file", href: attachment.url, "data-testid": "attachment-file", download: attachment.name || true }, [
      el("span", { className: "attachment-icon", "aria-hidden": "true", text: "PDF" }),
      el("span", { className: "attachment-name", text: attachment.name || "File" }),
      el("small", { className: "attachment-size", text: formatSize(attachment.size) }),
    ]);
  }

  // Own messages: one tick once the server has it, two once the other side has seen it.
  function ticksNode(read) {
    return el("span", {
      className: "ticks" + (read ? " is-read" : ""),
      "data-testid": "ticks",
      "data-state": read ? "read" : "delivered",
      title: read ? "Read" : "Delivered",
      "aria-label": read ? "Read" : "Delivered",
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
        el("small", { className: "message-time", text: "Sending…" }),
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
    this.node.textContent = (name || "Someone") + " is typing…";
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

  // POST a file as multipart; resolves with the stored message frame, rejects with
  // {code, message} from the error shape.
  function uploadFile(url, file, headers) {
    var body = new FormData();
    body.append("file", file);
    return fetch(url, { method: "POST", body: body, headers: headers || {}, credentials: "same-origin" })
      .catch(function () {
        throw { code: "not_connected", message: "The file could not be sent: no connection. Please try again." };
      })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (response.ok) return data;
          var error = (data && data.error) || {};
          throw { code: error.code || "error", message: error.message || "The file could not be sent." };
        });
      });
  }

  window.UI = {
    el: el,
    formatTime: formatTime,
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
  };
})();
