/*
 * The supervisors' live view: follows /ws/supervisor/ and calls /api/v1/ops/ for actions.
 *
 * The snapshot on every (re)connect replaces the whole state; ticket.changed,
 * agent.changed and intake.changed frames are applied to it as they come. Lists are
 * redrawn from the state when a frame changes them; the waits and countdowns tick once a
 * second by changing only their own text, so nothing a supervisor is using (a focused
 * button, an open dialog) moves under them.
 */
(function () {
  "use strict";

  var root = document.getElementById("ops-app");
  if (!root || !window.ReconnectingSocket || !window.UI) return;

  var el = window.UI.el;
  var $ = function (testid, scope) {
    return (scope || document).querySelector('[data-testid="' + testid + '"]');
  };
  var urls = {
    reassign: root.dataset.urlReassign,
    note: root.dataset.urlNote,
    away: root.dataset.urlAway,
    pause: root.dataset.urlPause,
    resume: root.dataset.urlResume,
    surge: root.dataset.urlSurge,
    ticket: root.dataset.urlTicket,
  };

  var ui = {
    connection: $("connection"),
    counts: $("ops-counts"),
    errorBox: $("ops-error"),
    errorText: $("ops-error-text"),
    errorDismiss: $("ops-error-dismiss"),
    result: $("ops-result"),
    waiting: $("waiting-list"),
    waitingEmpty: $("waiting-empty"),
    assigned: $("assigned-list"),
    assignedEmpty: $("assigned-empty"),
    offers: $("offers-list"),
    offersEmpty: $("offers-empty"),
    agents: $("agents-list"),
    agentsEmpty: $("agents-empty"),
    coverage: $("coverage-list"),
    coverageAsOf: $("coverage-as-of"),
    pauses: $("pauses-list"),
    pausesEmpty: $("pauses-empty"),
    pauseForm: $("pause-form"),
    surgeForm: $("surge-form"),
    reassignDialog: $("reassign-dialog"),
    reassignTicket: $("reassign-ticket"),
    reassignAgent: $("reassign-agent"),
    noteDialog: $("note-dialog"),
    noteAgent: $("note-agent"),
    noteText: $("note-text"),
    awayDialog: $("away-dialog"),
    awayAgent: $("away-agent"),
    awayReason: $("away-reason"),
  };

  var OPEN = ["queued", "offered", "assigned"];
  var WAITING = ["queued", "offered"];

  var state = {
    brands: new Map(), // id -> {id, slug, name, target_seconds, widen_after_seconds}
    tickets: new Map(), // id -> ticket dict plus `since` (ms clock of the handover)
    offers: new Map(), // id -> offer dict plus `deadline` (ms)
    agents: new Map(), // id -> agent dict
    coverage: [],
    coverageAt: null,
    pauses: new Map(), // "brand:language" -> pause
    loaded: false,
  };

  // --- formatting --------------------------------------------------------------------------

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  function brandName(id, slug) {
    var brand = state.brands.get(id);
    return brand ? brand.name : (slug || "#" + id);
  }

  function agentName(id) {
    var agent = state.agents.get(id);
    return agent ? agent.display_name : interpolate(gettext("agent %(id)s"), { id: id }, true);
  }

  function waitSeconds(ticket) {
    return (Date.now() - ticket.since) / 1000;
  }

  function chatsOf(agentId) {
    var n = 0;
    state.tickets.forEach(function (t) { if (t.status === "assigned" && t.agent_id === agentId) n += 1; });
    return n;
  }

  function offersOf(agentId) {
    var n = 0;
    state.offers.forEach(function (o) { if (o.agent_id === agentId) n += 1; });
    return n;
  }

  // What the page says an agent is doing, in words.
  function agentState(agent) {
    if (agent.status === "offline") return "offline";
    if (agent.status === "away") return "away";
    if (chatsOf(agent.id) > 0) return "busy";
    return "available";
  }

  var STATE_TITLE = {
    available: pgettext("agents group", "Available"),
    busy: pgettext("agents group", "Busy"),
    away: pgettext("agents group", "Away"),
    offline: pgettext("agents group", "Offline"),
  };

  // --- incoming frames ---------------------------------------------------------------------

  function putTicket(data) {
    var ticket = Object.assign({}, data, { since: Date.now() - (data.waiting_seconds || 0) * 1000 });
    var known = state.tickets.get(data.id);
    // A clock set once per ticket keeps the count steady across frames.
    if (known && Math.abs(known.since - ticket.since) < 2000) ticket.since = known.since;
    if (OPEN.indexOf(ticket.status) === -1) state.tickets.delete(ticket.id);
    else state.tickets.set(ticket.id, ticket);
  }

  function putOffer(data) {
    var deadline = Date.parse(data.expires_at);
    state.offers.set(data.id, Object.assign({}, data, { deadline: isNaN(deadline) ? Date.now() : deadline }));
  }

  function dropOffersOf(ticketId) {
    Array.from(state.offers.keys()).forEach(function (id) {
      if (state.offers.get(id).ticket_id === ticketId) state.offers.delete(id);
    });
  }

  function pauseKey(brand, language) {
    return brand + ":" + (language || "");
  }

  function onSnapshot(frame) {
    state.brands = new Map((frame.brands || []).map(function (b) { return [b.id, b]; }));
    state.tickets = new Map();
    (frame.tickets || []).forEach(putTicket);
    state.offers = new Map();
    (frame.offers || []).forEach(putOffer);
    state.agents = new Map((frame.agents || []).map(function (a) { return [a.id, a]; }));
    state.coverage = frame.coverage || [];
    state.coverageAt = new Date();
    state.pauses = new Map((frame.pauses || []).map(function (p) { return [pauseKey(p.brand, p.language), p]; }));
    state.loaded = true;
    render();
  }

  function onTicketChanged(frame) {
    var ticket = frame.ticket;
    if (!ticket) return;
    putTicket(ticket);
    // Whatever the change, an earlier offer of this ticket is over; a new one comes with it.
    dropOffersOf(ticket.id);
    if (frame.offer) putOffer(frame.offer);
    render();
  }

  function onAgentChanged(frame) {
    var data = frame.agent;
    if (!data) return;
    var known = state.agents.get(data.id) || { on_shift: false, checked_in: false, brands: [], languages: [] };
    state.agents.set(data.id, Object.assign({}, known, data));
    render();
  }

  function onIntakeChanged(frame) {
    var key = pauseKey(frame.brand, frame.language);
    if (frame.paused && frame.pause) state.pauses.set(key, frame.pause);
    else state.pauses.delete(key);
    render();
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "ops.snapshot":
        onSnapshot(frame);
        break;
      case "ticket.changed":
        onTicketChanged(frame);
        break;
      case "agent.changed":
        onAgentChanged(frame);
        break;
      case "intake.changed":
        onIntakeChanged(frame);
        break;
      case "error":
        showError(frame);
        break;
      default:
        break;
    }
  }

  // --- drawing -------------------------------------------------------------------------------

  var renderQueued = false;
  function render() {
    if (renderQueued) return;
    renderQueued = true;
    window.requestAnimationFrame(function () {
      renderQueued = false;
      draw();
    });
  }

  // Redrawing replaces the buttons; the one that had the focus gets it back.
  function focusKey() {
    var active = document.activeElement;
    if (!active || !active.dataset || !active.dataset.testid || !root.contains(active)) return null;
    return { testid: active.dataset.testid, id: active.dataset.id || "" };
  }

  function restoreFocus(key) {
    if (!key) return;
    var selector = '[data-testid="' + key.testid + '"]' + (key.id ? '[data-id="' + key.id + '"]' : "");
    var again = root.querySelector(selector);
    if (again && document.activeElement !== again) again.focus();
  }

  function draw() {
    var focus = focusKey();
    drawWaiting();
    drawAssigned();
    drawOffers();
    drawAgents();
    drawCoverage();
    drawPauses();
    drawCounts();
    tick();
    restoreFocus(focus);
  }

  function ticketLink(ticket) {
    return el("a", { href: urls.ticket.replace("/0/", "/" + ticket.id + "/"), "data-testid": "ticket-link", text: ticket.subject || "#" + ticket.id });
  }

  function reassignButton(ticket) {
    var button = el("button", {
      type: "button",
      className: "secondary outline ops-small",
      "data-testid": "reassign-open",
      "data-id": String(ticket.id),
      "aria-label": interpolate(gettext("Reassign “%(subject)s”"), { subject: ticket.subject || "#" + ticket.id }, true),
      text: gettext("Reassign"),
    });
    button.addEventListener("click", function () { openReassign(ticket.id); });
    return button;
  }

  function byBrandAndLanguage(tickets) {
    var groups = new Map();
    tickets.forEach(function (t) {
      if (!groups.has(t.brand)) groups.set(t.brand, new Map());
      var languages = groups.get(t.brand);
      if (!languages.has(t.language)) languages.set(t.language, []);
      languages.get(t.language).push(t);
    });
    return groups;
  }

  function drawWaiting() {
    var waiting = Array.from(state.tickets.values())
      .filter(function (t) { return WAITING.indexOf(t.status) !== -1; })
      .sort(function (a, b) { return a.since - b.since || a.id - b.id; });
    ui.waiting.replaceChildren();
    ui.waitingEmpty.hidden = !state.loaded || waiting.length > 0;
    var groups = byBrandAndLanguage(waiting);
    var brandIds = Array.from(groups.keys()).sort(function (a, b) { return brandName(a).localeCompare(brandName(b)); });
    brandIds.forEach(function (brandId) {
      var brand = state.brands.get(brandId);
      var languages = groups.get(brandId);
      var section = el("section", { className: "ops-brand", "data-testid": "waiting-brand", "data-brand": String(brandId) }, [
        el("h3", { text: brandName(brandId, languages.values().next().value[0].brand_slug) }),
        brand ? el("p", { className: "muted", text: interpolate(gettext("Target: answered within %(target)s · widened after %(widen)s"), {
          target: duration(brand.target_seconds), widen: duration(brand.widen_after_seconds),
        }, true) }) : null,
      ]);
      Array.from(languages.keys()).sort().forEach(function (language) {
        var tickets = languages.get(language);
        var oldest = tickets[0];
        section.appendChild(el("h4", { className: "ops-queue-title", "data-testid": "queue", "data-language": language }, [
          language.toUpperCase() + " · ",
          interpolate(ngettext("%(n)s waiting", "%(n)s waiting", tickets.length), { n: tickets.length }, true),
          " · ",
          el("span", { "data-since": String(oldest.since), "data-format": "oldest" }),
        ]));
        var list = el("ul", { className: "ops-list" });
        tickets.forEach(function (ticket) { list.appendChild(waitingRow(ticket, brand)); });
        section.appendChild(list);
      });
      ui.waiting.appendChild(section);
    });
  }

  function waitingRow(ticket, brand) {
    var offer = null;
    state.offers.forEach(function (o) { if (o.ticket_id === ticket.id) offer = o; });
    var status = ticket.status === "offered"
      ? el("span", { className: "ops-chip", "data-testid": "ticket-status", text: offer
        ? interpolate(gettext("offered to %(name)s"), { name: agentName(offer.agent_id) }, true)
        : gettext("offered") })
      : el("span", { className: "ops-chip", "data-testid": "ticket-status", text: gettext("queued") });
    return el("li", {
      className: "ops-ticket",
      "data-testid": "waiting-ticket",
      "data-ticket": String(ticket.id),
      "data-target": brand ? String(brand.target_seconds) : "",
      "data-widen": brand ? String(brand.widen_after_seconds) : "",
      "data-widened": String(ticket.widen_level || 0),
    }, [
      el("div", { className: "ops-ticket-main" }, [
        ticketLink(ticket),
        el("span", { className: "ops-wait", "data-testid": "ticket-wait", "data-since": String(ticket.since), "data-format": "wait" }),
        el("span", { className: "ops-flags", "data-testid": "ticket-flags" }),
        status,
      ]),
      reassignButton(ticket),
    ]);
  }

  function drawAssigned() {
    var assigned = Array.from(state.tickets.values())
      .filter(function (t) { return t.status === "assigned"; })
      .sort(function (a, b) { return brandName(a.brand).localeCompare(brandName(b.brand)) || a.id - b.id; });
    ui.assigned.replaceChildren();
    ui.assignedEmpty.hidden = !state.loaded || assigned.length > 0;
    assigned.forEach(function (ticket) {
      ui.assigned.appendChild(el("li", { className: "ops-ticket", "data-testid": "assigned-ticket", "data-ticket": String(ticket.id) }, [
        el("div", { className: "ops-ticket-main" }, [
          ticketLink(ticket),
          el("span", { className: "muted", text: brandName(ticket.brand, ticket.brand_slug) + " · " + ticket.language.toUpperCase() }),
          el("span", { className: "ops-chip", "data-testid": "assigned-agent", text: interpolate(gettext("with %(name)s"), { name: agentName(ticket.agent_id) }, true) }),
        ]),
        reassignButton(ticket),
      ]));
    });
  }

  function drawOffers() {
    var offers = Array.from(state.offers.values()).sort(function (a, b) { return a.deadline - b.deadline; });
    ui.offers.replaceChildren();
    ui.offersEmpty.hidden = !state.loaded || offers.length > 0;
    offers.forEach(function (offer) {
      var ticket = state.tickets.get(offer.ticket_id);
      ui.offers.appendChild(el("li", { className: "ops-offer", "data-testid": "offer", "data-offer": String(offer.id) }, [
        el("span", { text: ticket ? ticket.subject : "#" + offer.ticket_id }),
        " → ",
        el("strong", { text: agentName(offer.agent_id) }),
        " · ",
        el("span", { "data-deadline": String(offer.deadline) }),
      ]));
    });
  }

  // The accessible name starts with the visible words, then says whom it is about.
  function agentButton(testid, agent, text, handler) {
    var button = el("button", {
      type: "button",
      className: "secondary outline ops-small",
      "data-testid": testid,
      "data-id": String(agent.id),
      "aria-label": interpolate(pgettext("button: agent", "%(action)s: %(name)s"), { action: text, name: agent.display_name }, true),
      text: text,
    });
    button.addEventListener("click", function () { handler(agent.id); });
    return button;
  }

  function agentRow(agent) {
    var chats = chatsOf(agent.id);
    var offers = offersOf(agent.id);
    var facts = [interpolate(ngettext("%(n)s of %(m)s chat", "%(n)s of %(m)s chats", agent.capacity), { n: chats, m: agent.capacity }, true)];
    if (offers) facts.push(interpolate(ngettext("%(n)s offer pending", "%(n)s offers pending", offers), { n: offers }, true));
    if (agent.status !== "offline" && agent.connected === false) facts.push(gettext("disconnected"));
    if (agent.checked_in) facts.push(gettext("checked in on a shift"));
    else if (agent.on_shift) facts.push(gettext("booked on a shift now, not checked in"));
    var actions = el("div", { className: "ops-actions" }, [
      agentButton("note-open", agent, gettext("Note"), openNote),
      agent.status === "available" ? agentButton("away-open", agent, gettext("Set away"), openAway) : null,
    ]);
    return el("li", { className: "ops-agent", "data-testid": "agent", "data-agent": String(agent.id), "data-state": agentState(agent) }, [
      el("div", { className: "ops-agent-main" }, [
        el("strong", { "data-testid": "agent-name", text: agent.display_name }),
        el("span", { className: "muted", "data-testid": "agent-facts", text: facts.join(" · ") }),
      ]),
      actions,
    ]);
  }

  function drawAgents() {
    var groups = { available: [], busy: [], away: [], offline: [] };
    state.agents.forEach(function (agent) { groups[agentState(agent)].push(agent); });
    ui.agents.replaceChildren();
    var any = false;
    ["available", "busy", "away", "offline"].forEach(function (key) {
      var agents = groups[key].sort(function (a, b) { return a.display_name.localeCompare(b.display_name); });
      if (!agents.length) return;
      any = true;
      var list = el("ul", { className: "ops-list" });
      agents.forEach(function (agent) { list.appendChild(agentRow(agent)); });
      ui.agents.appendChild(el("section", { className: "ops-agent-group", "data-testid": "agents-" + key }, [
        el("h3", { text: STATE_TITLE[key] + " (" + agents.length + ")" }),
        list,
      ]));
    });
    ui.agentsEmpty.hidden = !state.loaded || any;
  }

  function drawCoverage() {
    ui.coverage.replaceChildren();
    state.coverage.forEach(function (row) {
      ui.coverage.appendChild(el("li", { "data-testid": "coverage-brand", "data-brand": String(row.brand) }, [
        el("strong", { text: brandName(row.brand) }),
        ": ",
        interpolate(gettext("%(booked)s booked on a shift now, %(checked)s checked in"), { booked: row.booked_now, checked: row.checked_in_now }, true),
      ]));
    });
    ui.coverageAsOf.textContent = state.coverageAt
      ? interpolate(gettext("As of %(time)s (when the view connected)."), { time: window.UI.formatTime(state.coverageAt.toISOString()) }, true)
      : "";
  }

  function drawPauses() {
    if (!ui.pauses) return;
    ui.pauses.replaceChildren();
    var pauses = Array.from(state.pauses.values());
    ui.pausesEmpty.hidden = pauses.length > 0;
    pauses.forEach(function (pause) {
      var scope = pause.language ? pause.language.toUpperCase() : gettext("all languages");
      var brand = state.brands.get(pause.brand);
      var resume = el("button", {
        type: "button",
        className: "secondary ops-small",
        "data-testid": "resume",
        "data-id": pauseKey(pause.brand, pause.language),
        "aria-label": interpolate(gettext("Resume intake of %(brand)s (%(scope)s)"), { brand: brandName(pause.brand), scope: scope }, true),
        text: gettext("Resume"),
      });
      resume.addEventListener("click", function () {
        act(urls.resume, { brand: brand ? brand.slug : "", language: pause.language }, resume).then(function () {
          done(interpolate(gettext("Intake of %(brand)s (%(scope)s) resumed."), { brand: brandName(pause.brand), scope: scope }, true));
        });
      });
      ui.pauses.appendChild(el("li", { className: "ops-pause", "data-testid": "pause", "data-brand": String(pause.brand), "data-language": pause.language }, [
        el("span", { text: interpolate(gettext("%(brand)s, %(scope)s: paused since %(time)s by %(who)s — %(reason)s"), {
          brand: brandName(pause.brand), scope: scope, time: window.UI.formatTime(pause.created_at), who: pause.paused_by, reason: pause.reason,
        }, true) }),
        resume,
      ]));
    });
  }

  function drawCounts() {
    if (!state.loaded) return;
    var waiting = 0;
    var stuck = 0;
    state.tickets.forEach(function (t) {
      if (WAITING.indexOf(t.status) === -1) return;
      waiting += 1;
      if (isStuck(t)) stuck += 1;
    });
    var available = 0;
    state.agents.forEach(function (a) { if (agentState(a) === "available") available += 1; });
    var parts = [
      interpolate(ngettext("%(n)s waiting", "%(n)s waiting", waiting), { n: waiting }, true),
      interpolate(ngettext("%(n)s offer in flight", "%(n)s offers in flight", state.offers.size), { n: state.offers.size }, true),
      interpolate(ngettext("%(n)s agent available", "%(n)s agents available", available), { n: available }, true),
    ];
    if (stuck) parts.push(interpolate(ngettext("%(n)s stuck", "%(n)s stuck", stuck), { n: stuck }, true));
    var text = parts.join(" · ");
    if (ui.counts.textContent !== text) ui.counts.textContent = text;
  }

  function isStuck(ticket) {
    var brand = state.brands.get(ticket.brand);
    return (ticket.widen_level || 0) > 0 || (brand && waitSeconds(ticket) > brand.widen_after_seconds);
  }

  // Once a second: the waits, the oldest wait of each queue, the offers' countdowns. A
  // ticket crossing its target or the widening time gets its words then, not at the next frame.
  function tick() {
    var now = Date.now();
    Array.prototype.forEach.call(root.querySelectorAll("[data-since]"), function (node) {
      var seconds = (now - Number(node.dataset.since)) / 1000;
      var text = node.dataset.format === "oldest"
        ? interpolate(gettext("oldest %(wait)s"), { wait: duration(seconds) }, true)
        : duration(seconds);
      if (node.textContent !== text) node.textContent = text;
    });
    Array.prototype.forEach.call(root.querySelectorAll('[data-testid="waiting-ticket"]'), function (row) {
      var ticket = state.tickets.get(Number(row.dataset.ticket));
      if (!ticket) return;
      var seconds = waitSeconds(ticket);
      var target = Number(row.dataset.target);
      var over = row.dataset.target !== "" && seconds > target;
      var stuck = isStuck(ticket);
      row.classList.toggle("is-over", !!over);
      row.classList.toggle("is-stuck", !!stuck);
      var flags = [];
      if (over) flags.push(gettext("over target"));
      if (stuck) flags.push(ticket.widen_level > 0 ? gettext("stuck: widened") : gettext("stuck"));
      var flagNode = row.querySelector('[data-testid="ticket-flags"]');
      var text = flags.join(" · ");
      if (flagNode.textContent !== text) flagNode.textContent = text;
    });
    Array.prototype.forEach.call(root.querySelectorAll("[data-deadline]"), function (node) {
      var left = Math.max(0, Math.ceil((Number(node.dataset.deadline) - now) / 1000));
      var text = interpolate(ngettext("%(n)s s left", "%(n)s s left", left), { n: left }, true);
      if (node.textContent !== text) node.textContent = text;
    });
  }
  setInterval(function () {
    tick();
    drawCounts();
  }, 1000);

  // --- actions -------------------------------------------------------------------------------

  var ERROR_TEXT = {
    agent_unavailable: null, // the server's sentence names the agent and why
    ticket_not_open: gettext("This ticket is no longer open."),
    not_connected: gettext("No connection to the server. Please try again."),
  };

  function showError(err) {
    var text = (err && ERROR_TEXT[err.code]) || window.UI.errorText(err);
    ui.errorText.textContent = text;
    ui.errorBox.dataset.code = (err && err.code) || "";
    ui.errorBox.hidden = false;
    ui.result.textContent = "";
  }

  function clearError() {
    ui.errorBox.hidden = true;
    ui.errorText.textContent = "";
  }
  ui.errorDismiss.addEventListener("click", clearError);

  function done(text) {
    clearError();
    ui.result.textContent = text;
  }

  // POST JSON with the CSRF header; resolves with the body, rejects with the error shape's
  // {code, message}. `button` is busy meanwhile.
  function act(url, body, button) {
    if (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    }
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": root.dataset.csrf },
      body: JSON.stringify(body),
    })
      .catch(function () {
        throw { code: "not_connected", message: gettext("No connection to the server. Please try again.") };
      })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (response.ok) return data;
          throw (data && data.error) || { code: "error", message: gettext("The server refused this.") };
        });
      })
      .catch(function (err) {
        showError(err);
        throw err;
      })
      .finally(function () {
        if (button) {
          button.disabled = false;
          button.removeAttribute("aria-busy");
        }
      });
  }

  function closeOnCancel(dialog, testid) {
    $(testid, dialog).addEventListener("click", function () { dialog.close(); });
  }

  var reassigning = null;

  function matchingAgents(ticket) {
    return Array.from(state.agents.values())
      .filter(function (a) {
        if (a.id === ticket.agent_id) return false;
        if (a.brands && a.brands.length && a.brands.indexOf(ticket.brand) === -1) return false;
        return !a.languages || !a.languages.length || a.languages.indexOf(ticket.language) !== -1;
      })
      .sort(function (a, b) { return a.display_name.localeCompare(b.display_name); });
  }

  function canTake(agent) {
    return agent.status === "available" && agent.connected !== false && chatsOf(agent.id) + offersOf(agent.id) < agent.capacity;
  }

  function openReassign(ticketId) {
    var ticket = state.tickets.get(ticketId);
    if (!ticket) return;
    reassigning = ticketId;
    ui.reassignTicket.textContent = interpolate(gettext("“%(subject)s”, %(brand)s, %(language)s"), {
      subject: ticket.subject, brand: brandName(ticket.brand, ticket.brand_slug), language: ticket.language.toUpperCase(),
    }, true);
    ui.reassignAgent.replaceChildren();
    var agents = matchingAgents(ticket);
    agents.forEach(function (agent) {
      var free = canTake(agent);
      var label = agent.display_name + " — " + (free
        ? interpolate(gettext("available, %(n)s of %(m)s chats"), { n: chatsOf(agent.id), m: agent.capacity }, true)
        : interpolate(gettext("cannot take it now (%(state)s)"), { state: STATE_TITLE[agentState(agent)].toLowerCase() }, true));
      var option = el("option", { value: String(agent.id), text: label });
      option.disabled = !free;
      ui.reassignAgent.appendChild(option);
    });
    var first = agents.filter(canTake)[0];
    if (first) ui.reassignAgent.value = String(first.id);
    if (!agents.length) {
      ui.reassignAgent.appendChild(el("option", { value: "", text: gettext("No agent of this brand speaks its language") }));
    }
    ui.reassignDialog.showModal();
    ui.reassignAgent.focus();
  }

  $("reassign-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var ticketId = reassigning;
    var agentId = parseInt(ui.reassignAgent.value, 10);
    if (!ticketId) return;
    if (isNaN(agentId)) {
      ui.reassignDialog.close();
      showError(gettext("No agent who could take this ticket is available right now."));
      return;
    }
    act(urls.reassign.replace("/0/", "/" + ticketId + "/"), { agent_id: agentId }, $("reassign-submit"))
      .then(function (data) {
        ui.reassignDialog.close();
        done(interpolate(gettext("Ticket “%(subject)s” reassigned to %(name)s."), {
          subject: data.ticket.subject, name: data.agent.display_name,
        }, true));
      })
      .catch(function () { ui.reassignDialog.close(); });
  });
  closeOnCancel(ui.reassignDialog, "reassign-cancel");

  var noteFor = null;
  function openNote(agentId) {
    noteFor = agentId;
    ui.noteAgent.textContent = interpolate(gettext("Your note to %(name)s"), { name: agentName(agentId) }, true);
    ui.noteText.value = "";
    ui.noteDialog.showModal();
    ui.noteText.focus();
  }
  $("note-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = ui.noteText.value.trim();
    if (!text) {
      ui.noteText.focus();
      return;
    }
    act(urls.note.replace("/0/", "/" + noteFor + "/"), { text: text }, $("note-submit"))
      .then(function () {
        ui.noteDialog.close();
        done(interpolate(gettext("Note sent to %(name)s."), { name: agentName(noteFor) }, true));
      })
      .catch(function () { ui.noteDialog.close(); });
  });
  closeOnCancel(ui.noteDialog, "note-cancel");

  var awayFor = null;
  function openAway(agentId) {
    awayFor = agentId;
    ui.awayAgent.textContent = interpolate(gettext("%(name)s stops getting offers; their open chats stay theirs."), { name: agentName(agentId) }, true);
    ui.awayReason.value = "";
    ui.awayDialog.showModal();
    ui.awayReason.focus();
  }
  $("away-form").addEventListener("submit", function (event) {
    event.preventDefault();
    act(urls.away.replace("/0/", "/" + awayFor + "/"), { reason: ui.awayReason.value }, $("away-submit"))
      .then(function () {
        ui.awayDialog.close();
        done(interpolate(gettext("%(name)s is away now."), { name: agentName(awayFor) }, true));
      })
      .catch(function () { ui.awayDialog.close(); });
  });
  closeOnCancel(ui.awayDialog, "away-cancel");

  if (ui.pauseForm) {
    ui.pauseForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var form = ui.pauseForm;
      var body = { brand: form.brand.value, language: form.language.value.trim(), reason: form.reason.value.trim() };
      act(urls.pause, body, $("pause-submit")).then(function () {
        form.reason.value = "";
        done(interpolate(gettext("Intake of %(brand)s (%(scope)s) paused."), {
          brand: form.brand.options[form.brand.selectedIndex].text,
          scope: body.language ? body.language.toUpperCase() : gettext("all languages"),
        }, true));
      });
    });
  }

  if (ui.surgeForm) {
    ui.surgeForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var form = ui.surgeForm;
      var body = { brand: form.brand.value, language: form.language.value.trim(), amount: form.amount.value.trim() };
      act(urls.surge, body, $("surge-submit")).then(function (data) {
        form.amount.value = "";
        done(interpolate(ngettext(
          "Surge of %(amount)s added to %(n)s waiting ticket.",
          "Surge of %(amount)s added to %(n)s waiting tickets.",
          data.tickets.length
        ), { amount: window.UI.formatMoney(data.amount.amount, data.amount.currency), n: data.tickets.length }, true));
      });
    });
  }

  // --- the socket ----------------------------------------------------------------------------

  function onStatus(status, detail) {
    ui.connection.textContent = window.UI.connectionText(status);
    ui.connection.dataset.state = status;
    if (status === "closed" && detail && (detail.code === 4401 || detail.code === 4403)) {
      showError(detail.code === 4401
        ? gettext("Your session has ended. Please log in again.")
        : gettext("Only supervisors and platform staff can follow the live view."));
    }
  }

  var socket = new window.ReconnectingSocket(root.dataset.wsPath, { onFrame: onFrame, onStatus: onStatus });
  socket.start();
})();
