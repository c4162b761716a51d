/*
 * Getting an offer noticed on a phone: a tone and a vibration on each offer, a system
 * notification while the tab is hidden, Web Push for a locked phone or a closed app, and
 * the screen kept on while the agent is available. Loaded before agent.js, which calls
 * window.AgentAlerts. Everything here is optional: a browser without an API just skips it.
 */
(function () {
  "use strict";

  var root = document.getElementById("agent-app");
  if (!root) return;

  var $ = function (testid) { return document.querySelector('[data-testid="' + testid + '"]'); };
  var setup = $("alerts-setup");
  var setupText = $("alerts-text");
  var setupButton = $("alerts-enable");
  var vapidKey = root.dataset.vapidKey || "";
  var pushUrl = root.dataset.pushUrl || "";
  var onAction = function () {};

  // --- service worker --------------------------------------------------------------------

  var registration = null;
  var ready = Promise.resolve(null);
  if ("serviceWorker" in navigator && root.dataset.swUrl) {
    ready = navigator.serviceWorker.register(root.dataset.swUrl, { scope: root.dataset.swScope })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function (reg) {
        registration = reg;
        root.dataset.serviceWorker = "ready";
        return reg;
      })
      .catch(function (err) {
        root.dataset.serviceWorker = "failed";
        console.warn("service worker", err);
        return null;
      });
    // A tap on a notification, relayed by the worker: answer over this page's socket.
    navigator.serviceWorker.addEventListener("message", function (event) {
      var message = event.data || {};
      if (message.type === "offer-notification" && message.offer_id != null) {
        onAction(Number(message.offer_id), message.action || "");
      }
    });
  }

  // --- tone and vibration ------------------------------------------------------------------
  // Browsers let a page make sound only after the user touched it; the first tap (going
  // available, say) unlocks the audio context for the rest of the shift.

  var audio = null;
  function unlockAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (!audio) {
      try { audio = new Context(); } catch (err) { audio = null; return; }
    }
    if (audio.state === "suspended") audio.resume().catch(function () {});
  }
  document.addEventListener("pointerdown", unlockAudio, { passive: true });
  document.addEventListener("keydown", unlockAudio);

  function tone() {
    if (!audio || audio.state !== "running") return false;
    var start = audio.currentTime + 0.02;
    // Two rising beeps: distinct from a message's single buzz, short enough not to annoy.
    [[880, 0], [1320, 0.22]].forEach(function (step) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = step[0];
      gain.gain.setValueAtTime(0.0001, start + step[1]);
      gain.gain.exponentialRampToValueAtTime(0.35, start + step[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + step[1] + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + step[1]);
      osc.stop(start + step[1] + 0.2);
    });
    return true;
  }

  function vibrate() {
    if (!navigator.vibrate) return false;
    try { return navigator.vibrate([200, 100, 200]); } catch (err) { return false; }
  }

  // --- notifications -------------------------------------------------------------------------

  function canNotify() {
    return "Notification" in window && Notification.permission === "granted";
  }

  // The worker cannot load the script catalogue: the page hands it the notification's
  // words in the page's language, with each offer it asks for and once on every load, which
  // the worker keeps for pushes that arrive while no page is open.
  function notificationTexts() {
    return {
      lang: document.documentElement.lang || "",
      title: gettext("New case"),
      titleWithPay: gettext("New case · %(pay)s"),
      waiting: gettext("A customer is waiting"),
      answerWithin: gettext("Answer within %(n)s s"),
      accept: gettext("Accept"),
      decline: gettext("Decline"),
    };
  }

  ready.then(function (reg) {
    if (reg && reg.active) reg.active.postMessage({ type: "texts", texts: notificationTexts() });
  });

  function notifyOffer(frame) {
    if (!canNotify()) return;
    ready.then(function (reg) {
      if (reg && reg.active) reg.active.postMessage({ type: "show-offer", offer: frame, texts: notificationTexts() });
    });
  }

  function closeOfferNotification(offerId) {
    if (!registration || !registration.getNotifications) return;
    registration.getNotifications({ tag: "offer-" + offerId }).then(function (list) {
      list.forEach(function (notification) { notification.close(); });
    });
  }

  // --- screen wake lock -----------------------------------------------------------------------
  // An available agent waits with the phone on the desk: the screen must not go dark and
  // the socket must not be suspended. Browsers drop the lock when the tab is hidden, so it
  // is asked for again whenever the page is visible and the agent still available.

  var wakeLock = null;
  var wantAwake = false;
  function setWakeState(state) { root.dataset.wakeLock = state; }

  function acquireWakeLock() {
    if (!("wakeLock" in navigator)) { setWakeState("unsupported"); return; }
    if (wakeLock || document.visibilityState !== "visible") return;
    navigator.wakeLock.request("screen").then(function (lock) {
      if (!wantAwake) { lock.release(); return; }
      wakeLock = lock;
      setWakeState("on");
      lock.addEventListener("release", function () {
        if (wakeLock === lock) wakeLock = null;
        setWakeState("off");
      });
    }).catch(function () { setWakeState("denied"); });
  }

  function releaseWakeLock() {
    if (wakeLock) {
      var lock = wakeLock;
      wakeLock = null;
      lock.release().catch(function () {});
    }
    setWakeState("off");
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && wantAwake) acquireWakeLock();
  });

  // --- Web Push subscription -------------------------------------------------------------------

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function keyBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function pushSupported() {
    return !!(vapidKey && pushUrl && "PushManager" in window && "serviceWorker" in navigator);
  }

  function sendSubscription(method, body) {
    return fetch(pushUrl, {
      method: method,
      credentials: "same-origin",
      keepalive: method === "DELETE",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
  }

  function subscribePush() {
    if (!pushSupported()) return Promise.resolve(false);
    return ready.then(function (reg) {
      if (!reg) return false;
      return reg.pushManager.getSubscription()
        .then(function (existing) {
          return existing || reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(vapidKey) });
        })
        .then(function (subscription) {
          var json = subscription.toJSON();
          return sendSubscription("POST", { endpoint: json.endpoint, keys: json.keys });
        })
        .then(function (response) { return response.ok; });
    }).catch(function (err) {
      console.warn("push subscription", err);
      return false;
    });
  }

  // On a shared phone the next person must not get this agent's offers: the subscription
  // is dropped on the way out.
  var logout = document.querySelector('[data-testid="logout"]');
  if (logout && logout.form) {
    logout.form.addEventListener("submit", function () {
      if (!pushSupported() || !registration) return;
      registration.pushManager.getSubscription().then(function (subscription) {
        if (!subscription) return;
        sendSubscription("DELETE", { endpoint: subscription.endpoint });
        subscription.unsubscribe();
      });
    });
  }

  function renderSetup() {
    if (!setup) return;
    if (!("Notification" in window)) { setup.hidden = true; return; }
    var permission = Notification.permission;
    setup.dataset.permission = permission;
    if (permission === "granted") {
      setup.hidden = true;
      return;
    }
    setup.hidden = false;
    if (permission === "denied") {
      setupText.textContent = gettext("Notifications are blocked for this site. Allow them in your browser settings to hear about offers while the app is in the background.");
      setupButton.hidden = true;
    } else {
      setupText.textContent = pushSupported()
        ? gettext("Get offers on a locked phone or while you use other apps.")
        : gettext("Get a notification for offers while this tab is in the background.");
      setupButton.hidden = false;
    }
  }

  if (setupButton) {
    setupButton.addEventListener("click", function () {
      unlockAudio();
      setupButton.setAttribute("aria-busy", "true");
      Notification.requestPermission()
        .then(function (permission) {
          if (permission === "granted") return subscribePush();
          return false;
        })
        .catch(function () { return false; })
        .then(function () {
          setupButton.removeAttribute("aria-busy");
          renderSetup();
        });
    });
  }

  renderSetup();
  // Already allowed on an earlier visit: make sure this browser's subscription is stored
  // (the push service may have rotated it).
  if (canNotify()) subscribePush();

  // --- what agent.js calls --------------------------------------------------------------------

  window.AgentAlerts = {
    // fn(offerId, action) for a notification tapped: action is "accept", "decline" or "".
    onAction: function (fn) { onAction = fn; },
    offer: function (frame) {
      var rang = tone();
      var buzzed = vibrate();
      root.dataset.lastAlert = JSON.stringify({ offer_id: frame.offer_id, tone: rang, vibrate: !!buzzed });
      if (document.visibilityState !== "visible") notifyOffer(frame);
    },
    offerGone: function (offerId) { closeOfferNotification(offerId); },
    status: function (status) {
      wantAwake = status === "available";
      if (wantAwake) acquireWakeLock();
      else releaseWakeLock();
    },
    ready: function () { return ready; },
  };
})();
