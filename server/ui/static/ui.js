// Progressive: every page works without this. With it, a matrix cell opens its explanation in
// a dialog, and a request or command can be copied with one button.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const dialog = document.getElementById("explanation");
  if (dialog && typeof dialog.showModal === "function") {
    document.querySelectorAll("table.matrix td a").forEach((link) => {
      link.addEventListener("click", async (event) => {
        event.preventDefault();
        const body = dialog.querySelector(".dialog-body");
        const answer = await fetch(link.href + "&fragment=1", { credentials: "same-origin" });
        body.innerHTML = await answer.text();  // our own server-rendered, escaped HTML
        const full = document.createElement("p");
        const open = document.createElement("a");
        open.href = link.href;
        open.textContent = "Open as a page";
        full.appendChild(open);
        body.appendChild(full);
        dialog.showModal();
        const title = body.querySelector("h2");
        if (title) { title.tabIndex = -1; title.focus(); }
      });
    });
  }
  document.querySelectorAll("pre.copyable").forEach((pre) => {
    if (!navigator.clipboard) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.addEventListener("click", () => navigator.clipboard.writeText(pre.innerText));
    pre.insertAdjacentElement("afterend", button);
  });
});
