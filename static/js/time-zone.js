/*
 * Preselects the device's time zone on the profile step when none is chosen yet. The list
 * itself comes from the server, so only a zone it knows is picked; the field stays a plain
 * select the applicant can change, and without JavaScript they choose it themselves.
 */
(function () {
  "use strict";
  // The script catalogue (/jsi18n/) may have failed to load: the source text then stands.
  var gettext = window.gettext || function (msgid) { return msgid; };
  var select = document.querySelector('select[data-preselect="browser-time-zone"]');
  if (!select || select.value) return;
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) return;
  var match = Array.prototype.some.call(select.options, function (option) { return option.value === zone; });
  if (!match) return;
  select.value = zone;
  select.dataset.preselected = "yes";
  var hint = document.getElementById(select.id + "_helptext");
  if (hint) hint.textContent = gettext("Taken from this device's settings; change it if it is wrong.") + " " + hint.textContent;
})();
