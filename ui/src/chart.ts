// A line chart drawn as SVG: a few series over the same x (the last N stream events), scaled to
// their common maximum. No library: the dashboard ships as one small bundle.

export interface Series {
  name: string;
  values: number[];
}

const kWidth = 400;
const kHeight = 140;
const kPad = 4;
// Room above the plot for the label of its maximum.
const kTop = 16;
export const kColors = ["#2f6fde", "#e0572f", "#2a9d63", "#9b51e0", "#c99a06", "#12a3b0"];

const svgNs = "http://www.w3.org/2000/svg";

// Draws `series` into `box` (replacing what was there) with a legend of each series' last value.
export function drawChart(box: HTMLElement, series: Series[], format: (v: number) => string): void {
  const points = Math.max(2, ...series.map((s) => s.values.length));
  let max = 0;
  for (const s of series) for (const v of s.values) if (Number.isFinite(v)) max = Math.max(max, v);
  if (max === 0) max = 1;
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("viewBox", `0 0 ${kWidth} ${kHeight}`);
  svg.setAttribute("preserveAspectRatio", "none");
  for (const y of [0.25, 0.5, 0.75]) {
    const grid = document.createElementNS(svgNs, "line");
    grid.setAttribute("x1", "0");
    grid.setAttribute("x2", String(kWidth));
    grid.setAttribute("y1", String(kTop + y * (kHeight - kTop - kPad)));
    grid.setAttribute("y2", String(kTop + y * (kHeight - kTop - kPad)));
    grid.setAttribute("stroke", "#eceff3");
    svg.appendChild(grid);
  }
  series.forEach((s, i) => {
    const line = document.createElementNS(svgNs, "polyline");
    const offset = points - s.values.length;
    const coords = s.values.map((v, j) => {
      const x = ((offset + j) / (points - 1)) * kWidth;
      const y = kHeight - kPad - ((Number.isFinite(v) ? v : 0) / max) * (kHeight - kTop - kPad);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    line.setAttribute("points", coords.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", kColors[i % kColors.length]);
    line.setAttribute("stroke-width", "1.5");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    svg.appendChild(line);
  });
  const top = document.createElementNS(svgNs, "text");
  top.setAttribute("x", "2");
  top.setAttribute("y", "12");
  top.setAttribute("font-size", "10");
  top.setAttribute("fill", "#6b7385");
  top.textContent = format(max);
  svg.appendChild(top);

  const legend = document.createElement("div");
  legend.className = "legend";
  series.forEach((s, i) => {
    const entry = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = kColors[i % kColors.length];
    entry.appendChild(swatch);
    const last = s.values.length > 0 ? s.values[s.values.length - 1] : NaN;
    entry.appendChild(document.createTextNode(`${s.name} ${format(last)}`));
    legend.appendChild(entry);
  });
  box.replaceChildren(svg, legend);
}
