/*
 * Draws the analytics page's charts (Chart.js, vendored in static/vendor) from the JSON the
 * server put in #analytics-data, and opens the tickets behind a point when it is selected.
 * The figures table below the charts holds the same numbers, each a link to the same
 * tickets, for keyboards, screen readers and browsers without JavaScript.
 */
(function () {
  "use strict";
  var gettext = window.gettext || function (msgid) { return msgid; };
  var source = document.getElementById("analytics-data");
  if (!source || typeof window.Chart === "undefined") return;
  var data = JSON.parse(source.textContent);

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var whole = Math.round(seconds);
    if (whole < 60) return whole + " s";
    var minutes = Math.floor(whole / 60);
    if (minutes < 60) return minutes + " min " + (whole % 60) + " s";
    var hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " h " + (minutes % 60) + " min";
    return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
  }

  var formats = {
    seconds: duration,
    percent: function (value) { return value.toLocaleString(undefined, { maximumFractionDigits: 1 }) + " %"; },
    hours: function (value) { return value.toLocaleString(undefined, { maximumFractionDigits: 1 }) + " h"; },
    rating: function (value) { return value.toLocaleString(undefined, { maximumFractionDigits: 2 }); },
    money: function (value) { return value.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }); },
    count: function (value) { return value.toLocaleString(); }
  };

  // Colour-blind-safe (Okabe-Ito); a dataset names its colour by index, or takes them in turn.
  var palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"];

  function drillUrl(figure, index) {
    return data.drill + "&bucket=" + encodeURIComponent(data.buckets[index]) + "&figure=" + encodeURIComponent(figure);
  }

  data.charts.forEach(function (spec) {
    var canvas = document.querySelector('canvas[data-chart="' + spec.id + '"]');
    if (!canvas) return;
    var format = formats[spec.unit] || formats.count;
    var chart = new window.Chart(canvas, {
      type: spec.kind,
      data: {
        labels: data.labels,
        datasets: spec.datasets.map(function (set, index) {
          var color = palette[(set.color === undefined ? index : set.color) % palette.length];
          return {
            label: set.label,
            borderColor: color,
            backgroundColor: spec.kind === "bar" ? color + "B3" : color,
            data: set.data,
            figure: set.figure,
            borderDash: set.dashed ? [6, 4] : undefined,
            spanGaps: true,
            pointRadius: data.labels.length > 60 ? 1 : 3,
            pointHitRadius: 8
          };
        })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: { ticks: { autoSkip: true, maxRotation: 0 } },
          y: {
            beginAtZero: true,
            suggestedMax: spec.unit === "rating" ? 5 : undefined,
            ticks: {
              precision: spec.unit === "count" ? 0 : undefined,
              callback: function (value) { return format(value); }
            }
          }
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              label: function (item) {
                var value = item.raw === null ? "–" : format(item.raw);
                return item.dataset.label + ": " + value;
              },
              footer: function () { return gettext("Select to list the tickets"); }
            }
          }
        },
        onHover: function (event, elements) {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        },
        onClick: function (event, elements) {
          if (!elements.length) return;
          var element = elements[0];
          var figure = chart.data.datasets[element.datasetIndex].figure;
          window.location.href = drillUrl(figure, element.index);
        }
      }
    });
  });
})();
