// Draw the statistics' charts: the server built every ECharts option (consumers/console/charts.py);
// this only hands each one to ECharts. SVG rendering keeps the printed report sharp.
(function () {
  "use strict";
  var data = document.getElementById("chart-options");
  if (!data || !window.echarts) { return; }
  var options = JSON.parse(data.textContent);
  var drawn = [];
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var option = options[el.dataset.chart];
    if (!option) { return; }
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(option);
    drawn.push(chart);
  });
  window.addEventListener("resize", function () { drawn.forEach(function (c) { c.resize(); }); });
  document.body.dataset.chartsDrawn = String(drawn.length);
}());
