// The campaign funnel as a bar chart (Chart.js 4, vendored); the table shows the same numbers.
document.addEventListener("DOMContentLoaded", function () {
  var canvas = document.getElementById("funnel-chart");
  var data = document.getElementById("funnel-data");
  if (!canvas || !data || typeof Chart === "undefined") return;
  var funnel = JSON.parse(data.textContent);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: funnel.labels,
      datasets: [{ label: "요청 수", data: funnel.counts, backgroundColor: "#417690" }]
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
    }
  });
});
