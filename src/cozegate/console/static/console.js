// cozegate console: small progressive enhancements (the pages work without it).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Check or uncheck every row of the dead letters table.
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll("input.row-check").forEach((box) => { box.checked = all.checked; });
    });
  }
  // Destructive buttons ask first.
  document.querySelectorAll("button[data-confirm]").forEach((button) => {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });
});
