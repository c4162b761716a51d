/*
 * Keeps what an applicant typed in the current step in localStorage until the step is
 * saved, so a refresh, a closed tab or a dropped connection before "Save" loses nothing.
 * Steps already saved on the server are shown from the server, never from here.
 */
(function () {
  "use strict";
  var form = document.querySelector("form[data-draft-key]");
  if (!form || !window.localStorage) return;
  var key = "draft:" + form.dataset.draftKey;

  function fields() {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "csrfmiddlewaretoken" && el.type !== "hidden" && el.type !== "submit";
    });
  }

  function save() {
    var data = {};
    fields().forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio") {
        data[el.name + "=" + el.value] = el.checked;
      } else {
        data[el.name] = el.value;
      }
    });
    try { localStorage.setItem(key, JSON.stringify(data)); } catch (e) { /* storage full or disabled */ }
  }

  function restore() {
    var raw = localStorage.getItem(key);
    if (!raw) return;
    var data;
    try { data = JSON.parse(raw); } catch (e) { return; }
    fields().forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio") {
        var k = el.name + "=" + el.value;
        if (k in data) el.checked = data[k];
      } else if (el.name in data) {
        el.value = data[el.name];
      }
    });
  }

  if (form.dataset.hasSaved === "0") restore();
  form.addEventListener("input", save);
  form.addEventListener("change", save);
  form.addEventListener("submit", function () { localStorage.removeItem(key); });
})();
