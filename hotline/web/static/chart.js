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

  // The top of a scale for counts up to the largest total of `stacks`: whole-number ticks at
  // 0, half and top (things are counted: a tick of 0.5 calls or cases means nothing).
  function ceilingOf(labels, stacks) {
    const top = Math.max(1, ...labels.map((_, i) => stacks.reduce((sum, s) => sum + (s.values[i] || 0), 0)));
    const step = Math.max(1, Math.pow(10, Math.floor(Math.log10(top))));
    return Math.max(2, Math.ceil(top / step) * step + (Math.ceil(top / step) % 2 ? step : 0));
  }
  function chartRoot(width, height, title) {
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart", "aria-label": title });
    root.append(svg("title", {}, title));
    return root;
  }
  // One label's stacked segments along the value axis: `place(from, to)` gives the rectangle of
  // the values from..to; each segment says its label, stack and value on hover.
  function segments(root, name, i, stacks, place) {
    let base = 0;
    for (const stack of stacks) {
      const value = stack.values[i] || 0;
      if (value > 0) {
        const rect = svg("rect", { ...place(base, base + value), class: stack.className });
        rect.append(svg("title", {}, `${name} ${stack.name}: ${value}`));
        root.append(rect);
      }
      base += value;
    }
  }

  // Stacked bars: `labels` along x; `stacks` [{values, className, name}] bottom to top.
  function bars({ labels, stacks, title, width = 1000, height = 230 }) {
    const pad = { left: 40, right: 8, top: 12, bottom: 26 };
    const ceiling = ceilingOf(labels, stacks);
    const plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
    const band = plotW / Math.max(1, labels.length);
    const y = (v) => pad.top + plotH - (v / ceiling) * plotH;
    const root = chartRoot(width, height, title);
    for (const tick of [0, ceiling / 2, ceiling]) {
      root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: "grid" }));
      root.append(text(pad.left - 6, y(tick) + 4, String(tick), { "text-anchor": "end", class: "axis" }));
    }
    labels.forEach((name, i) => {
      const x = pad.left + i * band + band * 0.15;
      segments(root, name, i, stacks, (from, to) => ({ x, width: band * 0.7, y: y(to), height: y(from) - y(to) }));
      if (labels.length <= 24 || i % 2 === 0) root.append(text(x + band * 0.35, height - pad.bottom + 16, name, { "text-anchor": "middle", class: "axis" }));
    });
    return root;
  }

  // Stacked bars lying down, for long names (departments, windows): `labels` down the left,
  // `notes` (optional, one per label) written after each bar.
  function rows({ labels, stacks, notes = [], title, width = 1000, rowHeight = 26 }) {
    const pad = { left: 150, right: 130, top: 18, bottom: 4 };
    const height = pad.top + pad.bottom + rowHeight * Math.max(1, labels.length);
    const ceiling = ceilingOf(labels, stacks);
    const x = (v) => pad.left + (v / ceiling) * (width - pad.left - pad.right);
    const root = chartRoot(width, height, title);
    for (const tick of [0, ceiling / 2, ceiling]) {
      root.append(svg("line", { x1: x(tick), x2: x(tick), y1: pad.top - 4, y2: height - pad.bottom, class: "grid" }));
      root.append(text(x(tick), pad.top - 6, String(tick), { "text-anchor": "middle", class: "axis" }));
    }
    labels.forEach((name, i) => {
      const y = pad.top + i * rowHeight + rowHeight * 0.2;
      root.append(text(pad.left - 8, y + rowHeight * 0.45, name, { "text-anchor": "end", class: "axis" }));
      segments(root, name, i, stacks, (from, to) => ({ x: x(from), width: x(to) - x(from), y, height: rowHeight * 0.6 }));
      const total = stacks.reduce((sum, s) => sum + (s.values[i] || 0), 0);
      if (notes[i]) root.append(text(x(total) + 6, y + rowHeight * 0.45, notes[i], { class: "axis note" }));
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

  return { bars, rows, gauge };
})();
