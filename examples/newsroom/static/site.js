// The corrections shortcut the article footer mentions: highlight text, press Ctrl + Enter.
"use strict";

document.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) {
    return;
  }
  const quote = String(window.getSelection() || "").trim();
  if (!quote) {
    return;
  }
  event.preventDefault();
  const params = new URLSearchParams({ quote: quote.slice(0, 1000), page: window.location.pathname });
  window.location.assign("/about/corrections?" + params.toString());
});
