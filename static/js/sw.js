/*
 * Service worker of the agent app. /agent/sw.js serves this file headed by SHELL_VERSION,
 * SHELL_URLS, APP_URL, OFFLINE_URL and ICON_URL (agents/views/agent.py).
 *
 * - Keeps the app shell (styles, scripts, icons, an offline page) so the installed app
 *   starts without a network and says so instead of showing a browser error.
 * - Shows an offer as a system notification when it arrives by Web Push (the phone is
 *   locked or the app closed) or when the open page asks (its tab is hidden).
 * - A tap on the notification (or on Accept / Decline) brings the app forward and lets it
 *   answer over its socket.
 * - Speaks the app's language: a worker cannot load the script catalogue, so the page posts
 *   the notification's words (agent-alerts.js); they are kept in a cache of their own for
 *   pushes that come while no page is open. English until a page has posted them.
 */
/* global SHELL_VERSION, SHELL_URLS, APP_URL, OFFLINE_URL, ICON_URL */
"use strict";

var CACHE_PREFIX = "agent-shell-";
var CACHE = CACHE_PREFIX + SHELL_VERSION;

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE)
      .then(function (cache) {
        // Past the HTTP cache: the shell must match this worker's version.
        return cache.addAll(SHELL_URLS.map(function (url) { return new Request(url, { cache: "reload" }); }));
      })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys()
      .then(function (keys) {
        return Promise.all(keys.filter(function (key) {
          return key.indexOf(CACHE_PREFIX) === 0 && key !== CACHE;
        }).map(function (key) { return caches.delete(key); }));
      })
      .then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    // The page holds the agent's own data and a CSRF token, so it always comes from the
    // network; the offline page only when there is none.
    event.respondWith(fetch(request).catch(function () { return caches.match(OFFLINE_URL); }));
    return;
  }
  if (SHELL_URLS.indexOf(url.pathname) === -1) return;
  // The cached copy at once, a fresh one for next time.
  event.respondWith(caches.open(CACHE).then(function (cache) {
    return cache.match(request).then(function (cached) {
      var network = fetch(request).then(function (response) {
        if (response.ok) cache.put(request, response.clone());
        return response;
      });
      if (!cached) return network;
      network.catch(function () { /* offline: the cached copy stands */ });
      return cached;
    });
  }));
});

var TEXTS_CACHE = "agent-texts";
var TEXTS_KEY = "/agent/texts.json";
var ENGLISH = {
  lang: "en",
  title: "New case",
  titleWithPay: "New case · %(pay)s",
  waiting: "A customer is waiting",
  answerWithin: "Answer within %(n)s s",
  accept: "Accept",
  decline: "Decline",
};

function fill(format, values) {
  return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
}

function saveTexts(texts) {
  return caches.open(TEXTS_CACHE).then(function (cache) {
    return cache.put(TEXTS_KEY, new Response(JSON.stringify(texts), { headers: { "Content-Type": "application/json" } }));
  });
}

function loadTexts() {
  return caches.open(TEXTS_CACHE)
    .then(function (cache) { return cache.match(TEXTS_KEY); })
    .then(function (response) { return response ? response.json() : null; })
    .catch(function () { return null; });
}

function formatPay(pay, lang) {
  if (!pay || pay.amount == null) return "";
  try {
    return new Intl.NumberFormat(lang || undefined, { style: "currency", currency: pay.currency }).format(Number(pay.amount));
  } catch (err) {
    return pay.amount + " " + (pay.currency || "");
  }
}

function offerNotification(offer, posted) {
  var known = posted ? Promise.resolve(posted) : loadTexts();
  return known.then(function (stored) {
    return showOffer(offer, Object.assign({}, ENGLISH, stored || {}));
  });
}

function showOffer(offer, text) {
  var ticket = offer.ticket || {};
  var pay = formatPay(offer.pay, text.lang);
  var seconds = typeof offer.expires_in === "number" ? Math.round(offer.expires_in) : null;
  return self.registration.showNotification(pay ? fill(text.titleWithPay, { pay: pay }) : text.title, {
    body: (ticket.subject || text.waiting) + (seconds ? "\n" + fill(text.answerWithin, { n: seconds }) : ""),
    tag: "offer-" + offer.offer_id,
    renotify: true,
    requireInteraction: true,
    icon: ICON_URL,
    badge: ICON_URL,
    vibrate: [200, 100, 200, 100, 200],
    timestamp: Date.now(),
    data: { offer_id: offer.offer_id, expires_at: offer.expires_at },
    actions: [
      { action: "accept", title: text.accept },
      { action: "decline", title: text.decline },
    ],
  });
}

self.addEventListener("push", function (event) {
  var offer = null;
  try {
    offer = event.data ? event.data.json() : null;
  } catch (err) {
    offer = null;
  }
  if (!offer || offer.type !== "offer") return;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      // A visible app already shows the offer (and rings) from its socket.
      var visible = windows.some(function (client) { return client.visibilityState === "visible"; });
      if (!visible) return offerNotification(offer);
      return undefined;
    })
  );
});

// The open page asks for a notification while its tab is hidden.
self.addEventListener("message", function (event) {
  var message = event.data || {};
  if (message.type === "show-offer" && message.offer) {
    event.waitUntil(offerNotification(message.offer, message.texts));
  } else if (message.type === "texts" && message.texts) {
    event.waitUntil(saveTexts(message.texts));
  }
});

self.addEventListener("notificationclick", function (event) {
  var notification = event.notification;
  var data = notification.data || {};
  var action = event.action === "accept" || event.action === "decline" ? event.action : "";
  notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      var app = windows.filter(function (client) { return new URL(client.url).pathname === APP_URL; })[0];
      if (app) {
        app.postMessage({ type: "offer-notification", offer_id: data.offer_id, action: action });
        return app.focus();
      }
      var query = data.offer_id ? "?offer=" + encodeURIComponent(data.offer_id) + (action ? "&action=" + action : "") : "";
      return self.clients.openWindow(APP_URL + query);
    })
  );
});
