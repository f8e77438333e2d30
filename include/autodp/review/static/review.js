// Draws the review pages' charts with Chart.js (served by the plugin, see package.json).
// Charts draw without animation; each canvas gets data-rendered="true" once drawn.
(function () {
  const source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const done = (canvas) => { canvas.dataset.rendered = "true"; };

  const iterations = document.getElementById("iterations-chart");
  if (iterations && data.points) {
    const labels = data.points.map((p) => "iteration " + p.iteration);
    // Scored by the gradient-flow signal, a point has no win rate: its score is its value against raw (0).
    const byValue = data.points.some((p) => p.win_rate === null || p.win_rate === undefined);
    const shown = (p) => (byValue ? p.score : p.win_rate);
    new Chart(iterations, {
      type: "line",
      data: {
        labels,
        datasets: [
          { label: "95% CI high", data: data.points.map((p) => p.ci95[1]), borderWidth: 0, pointRadius: 0,
            backgroundColor: "rgba(37, 99, 235, 0.15)", fill: "+1" },
          { label: "95% CI low", data: data.points.map((p) => p.ci95[0]), borderWidth: 0, pointRadius: 0,
            fill: false },
          { label: byValue ? "best value vs raw so far" : "best win rate so far", data: data.points.map(shown),
            borderColor: "#2563eb", backgroundColor: "#2563eb", tension: 0, fill: false },
          { label: byValue ? "raw (0)" : "tie with raw (0.5)", data: data.points.map(() => (byValue ? 0 : 0.5)),
            borderColor: "#9ca3af",
            borderDash: [6, 4], pointRadius: 0, fill: false },
        ],
      },
      options: {
        animation: false,
        responsive: false,
        scales: { y: byValue ? { title: { display: true, text: "value vs unprocessed" } }
                             : { min: 0, max: 1, title: { display: true, text: "win rate vs unprocessed" } } },
        plugins: {
          legend: { labels: { filter: (item) => !item.text.startsWith("95% CI low") } },
          tooltip: { callbacks: { afterLabel: (ctx) => data.points[ctx.dataIndex].operators.join(" › ") } },
        },
      },
    });
    done(iterations);
  }

  const reasons = document.getElementById("reasons-chart");
  if (reasons && data.reasons) {
    new Chart(reasons, {
      type: "bar",
      data: {
        labels: data.reasons.map((r) => r.operator + ": " + r.reason),
        datasets: [{ label: "rows", data: data.reasons.map((r) => r.rows),
                     backgroundColor: data.reasons.map((r) => r.kind === "dropped" ? "#dc2626" : "#d97706") }],
      },
      options: { indexAxis: "y", responsive: false, animation: false,
                 plugins: { legend: { display: false } } },
    });
    done(reasons);
  }

  const drift = document.getElementById("drift-chart");
  if (drift && data.drift) {
    const colours = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
    const datasets = [];
    data.drift.steps.forEach((step, i) => {
      const colour = colours[i % colours.length];
      datasets.push({ label: step.name, data: step.shares, borderColor: colour, backgroundColor: colour,
                      tension: 0, fill: false, spanGaps: true });
      if (step.search !== null) {
        datasets.push({ label: step.name + " (approved search)", data: data.drift.runs.map(() => step.search),
                        borderColor: colour, borderDash: [6, 4], pointRadius: 0, fill: false });
      }
    });
    new Chart(drift, {
      type: "line",
      data: { labels: data.drift.runs, datasets },
      options: { animation: false, responsive: false,
                 scales: { y: { min: 0, max: 1, title: { display: true, text: "share of rows dropped or rewritten" } } } },
    });
    done(drift);
  }
})();
