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

  window.UI = {
    el: el,
    formatTime: formatTime,
    bindComposer: bindComposer,
    historyButton: historyButton,
    keepScrollFromBottom: keepScrollFromBottom,
  };
})();
