// cozegate console overview: live charts of the last 60 minutes (uPlot, vendored), refreshed every few seconds.
"use strict";

(function () {
  const root = document.getElementById("charts");
  if (!root || typeof uPlot === "undefined") {
    return;
  }
  const url = root.dataset.statsUrl;
  const refreshMs = Number(root.dataset.refreshSeconds || "5") * 1000;
  const charts = {};

  const ms = (values) => values.map((v) => (v === null ? null : Math.round(v * 100000) / 100));
  const definitions = {
    throughput: {
      series: [
        { label: "received", stroke: "#3056d3", fill: "rgba(48, 86, 211, 0.08)" },
        { label: "processed", stroke: "#1f8a4c" },
      ],
      data: (s) => [s.received, s.processed],
    },
    latency: {
      series: [
        // A lone minute with finished events has no neighbour to draw a line to: show the points.
        { label: "p50 ms", stroke: "#3056d3", points: { show: true, size: 6 } },
        { label: "p95 ms", stroke: "#b7791f", points: { show: true, size: 6 } },
      ],
      data: (s) => [ms(s.latency_p50_seconds), ms(s.latency_p95_seconds)],
    },
    errors: {
      series: [
        { label: "failed attempts", stroke: "#b7791f", fill: "rgba(183, 121, 31, 0.08)" },
        { label: "dead letters", stroke: "#c62f2f" },
      ],
      data: (s) => [s.failed_attempts, s.dead_letters],
    },
  };

  function widthOf(element) {
    return Math.max(280, Math.floor(element.getBoundingClientRect().width));
  }

  function draw(name, element, stats) {
    const definition = definitions[name];
    const data = [stats.minutes, ...definition.data(stats)];
    if (charts[name]) {
      charts[name].setData(data);
      return;
    }
    const options = {
      width: widthOf(element),
      height: 220,
      scales: { x: { time: true } },
      series: [{}, ...definition.series.map((s) => ({ width: 2, spanGaps: false, ...s }))],
      axes: [{}, { size: 56 }],
      hooks: {
        draw: [
          (chart) => {
            if (chart.data[0].length > 0) {
              element.dataset.rendered = "1";
            }
          },
        ],
      },
    };
    charts[name] = new uPlot(options, data, element);
  }

  function setText(id, value) {
    const element = document.getElementById(id);
    if (element) {
      element.textContent = String(value);
    }
  }

  async function refresh() {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
    } catch (error) {
      setText("stats-updated", "the gateway did not answer; retrying");
      return;
    }
    if (response.status === 401) {
      window.location.assign("/console/login?next=" + encodeURIComponent("/console"));
      return;
    }
    if (!response.ok) {
      setText("stats-updated", "refresh failed (" + response.status + "); retrying");
      return;
    }
    const stats = await response.json();
    root.querySelectorAll("[data-chart]").forEach((element) => draw(element.dataset.chart, element, stats));
    setText("total-received", stats.totals.received);
    setText("total-processed", stats.totals.processed);
    setText("total-failed", stats.totals.failed_attempts);
    setText("total-dead", stats.totals.dead_letters);
    setText("depth-pending", stats.depth.pending);
    setText("depth-processing", stats.depth.processing);
    setText("depth-dead", stats.depth.dead);
    setText("worker-in-flight", stats.worker.in_flight);
    setText("worker-concurrency", stats.worker.concurrency);
    setText("stats-updated", "updated " + new Date().toLocaleTimeString());
    root.dataset.refreshes = String(Number(root.dataset.refreshes || "0") + 1);
  }

  window.addEventListener("resize", () => {
    Object.entries(charts).forEach(([name, chart]) => {
      const element = document.getElementById("chart-" + name);
      chart.setSize({ width: widthOf(element), height: 220 });
    });
  });

  refresh();
  window.setInterval(refresh, refreshMs);
})();
