/*
 * Device check for the application: can this browser hold the live connection the
 * agent app needs, and may it show notifications? Fills the hidden fields of the form.
 */
(function () {
  "use strict";
  // The script catalogue (/jsi18n/) may have failed to load: the source text then stands.
  var gettext = window.gettext || function (msgid) { return msgid; };
  var form = document.querySelector('[data-step="device"]');
  if (!form) return;
  var result = form.querySelector('[data-testid="device-result"]');
  var field = function (name) { return form.querySelector('[name="' + name + '"]'); };
  field("user_agent").value = navigator.userAgent.slice(0, 300);
  field("notifications").value = "Notification" in window ? Notification.permission : "unsupported";

  function done(ok, text) {
    field("websocket_ok").value = ok ? "yes" : "no";
    result.textContent = text;
    result.dataset.ok = ok ? "yes" : "no";
  }

  if (!("WebSocket" in window)) {
    done(false, gettext("This browser cannot open live connections. Please use a current Chrome, Firefox or Safari."));
    return;
  }
  // Any answer from the server proves a round trip; the agent socket replies even to
  // accounts that are not agents yet (with an error frame), which is all we need.
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/agent/";
  var socket = new WebSocket(url);
  var timer = setTimeout(function () {
    socket.close();
    done(false, gettext("No answer from our server within 10 seconds. Check your network, then reload this page."));
  }, 10000);
  socket.onmessage = function () {
    clearTimeout(timer);
    socket.close();
    done(true, gettext("Live connection works on this device."));
  };
  socket.onerror = function () {
    clearTimeout(timer);
    done(false, gettext("A live connection could not be opened (a firewall or proxy may block it). Try another network."));
  };
})();
