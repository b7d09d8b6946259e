// Charts as inline SVG, drawn here (no third-party library: centres run without internet and
// the console has no build step). Each chart carries a text equivalent for screen readers.
"use strict";

const Chart = (() => {
  const NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) if (value !== undefined) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }
  function text(x, y, content, attrs) { const node = svg("text", { x, y, ...attrs }); node.textContent = content; return node; }

  // Stacked bars: `labels` along x; `stacks` [{values, className, name}] bottom to top.
  function bars({ labels, stacks, title, width = 1000, height = 230 }) {
    const pad = { left: 40, right: 8, top: 12, bottom: 26 };
    const totals = labels.map((_, i) => stacks.reduce((sum, s) => sum + (s.values[i] || 0), 0));
    const top = Math.max(1, ...totals);
    // Whole-number ticks: calls are counted, a tick of 0.5 calls means nothing.
    const step = Math.max(1, Math.pow(10, Math.floor(Math.log10(top))));
    const ceiling = Math.max(2, Math.ceil(top / step) * step + (Math.ceil(top / step) % 2 ? step : 0));
    const plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
    const band = plotW / Math.max(1, labels.length);
    const y = (v) => pad.top + plotH - (v / ceiling) * plotH;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart", "aria-label": title });
    root.append(svg("title", {}, title));
    for (const tick of [0, ceiling / 2, ceiling]) {
      root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: "grid" }));
      root.append(text(pad.left - 6, y(tick) + 4, String(tick), { "text-anchor": "end", class: "axis" }));
    }
    labels.forEach((name, i) => {
      let base = 0;
      const x = pad.left + i * band + band * 0.15;
      for (const stack of stacks) {
        const value = stack.values[i] || 0;
        if (value > 0) {
          const rect = svg("rect", { x, width: band * 0.7, y: y(base + value), height: y(base) - y(base + value), class: stack.className });
          rect.append(svg("title", {}, `${name} ${stack.name}: ${value}`));
          root.append(rect);
        }
        base += value;
      }
      if (labels.length <= 24 || i % 2 === 0) root.append(text(x + band * 0.35, height - pad.bottom + 16, name, { "text-anchor": "middle", class: "axis" }));
    });
    return root;
  }

  // A horizontal gauge from 0 to 1 (the share answered within 15 s, the abandon rate).
  function gauge({ value, title, className = "good", width = 200, height = 10 }) {
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", class: "gauge", "aria-label": title });
    root.append(svg("title", {}, title));
    root.append(svg("rect", { x: 0, y: 0, width, height, class: "track" }));
    if (value !== null && value !== undefined) root.append(svg("rect", { x: 0, y: 0, width: width * Math.min(1, value), height, class: className }));
    return root;
  }

  return { bars, gauge };
})();
