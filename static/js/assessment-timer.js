/* Live countdown for the assessment. The server enforces the deadline; this only tells
 * the applicant, measured against the server's clock so a wrong phone clock does no harm. */
(function () {
  "use strict";
  // The script catalogue (/jsi18n/) may have failed to load: the source text then stands.
  var gettext = window.gettext || function (msgid) { return msgid; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\((\w+)\)s/g, function (match, name) { return String(obj[name]); });
  };
  var el = document.querySelector('[data-testid="assessment-timer"]');
  if (!el) return;
  var offset = Date.parse(el.dataset.serverNow) - Date.now();
  var deadline = Date.parse(el.dataset.deadline);
  function tick() {
    var left = Math.max(0, Math.round((deadline - (Date.now() + offset)) / 1000));
    var m = Math.floor(left / 60), s = left % 60;
    el.textContent = left > 0
      ? interpolate(gettext("Time left: %(time)s"), { time: m + ":" + (s < 10 ? "0" : "") + s }, true)
      : gettext("Time is up. Answers handed in now may not count.");
    el.classList.toggle("urgent", left < 60);
    if (left > 0) setTimeout(tick, 1000);
  }
  tick();
})();
