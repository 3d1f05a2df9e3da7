// Progressive enhancement for the dashboard; every page works without it.
(function () {
  "use strict";

  // Menus are <details data-menu>: close on Escape (returning focus to the
  // toggle) and on a click outside.
  function menus() { return document.querySelectorAll("details[data-menu][open]"); }
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    menus().forEach(function (d) {
      d.removeAttribute("open");
      var s = d.querySelector("summary");
      if (s) s.focus();
    });
  });
  document.addEventListener("click", function (e) {
    menus().forEach(function (d) {
      if (!d.contains(e.target)) d.removeAttribute("open");
    });
  });

  // Flash messages can be dismissed.
  document.querySelectorAll("[data-dismissible]").forEach(function (el) {
    var b = el.querySelector("[data-dismiss]");
    if (!b) return;
    b.classList.remove("hidden");
    b.addEventListener("click", function () { el.remove(); });
  });

  // Long account lists get a filter box.
  document.querySelectorAll("[data-account-filter]").forEach(function (input) {
    input.classList.remove("hidden");
    var list = input.closest("[data-testid=account-switcher]");
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      list.querySelectorAll("[data-account-name]").forEach(function (li) {
        li.hidden = q !== "" && li.getAttribute("data-account-name").toLowerCase().indexOf(q) < 0;
      });
    });
  });

  // Forms marked data-confirm ask first (the server does not depend on it).
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
    });
  });

  // Copy buttons copy the text of the element their data-copy names.
  document.querySelectorAll("[data-copy]").forEach(function (b) {
    b.classList.remove("hidden");
    b.addEventListener("click", function () {
      var src = document.getElementById(b.getAttribute("data-copy"));
      if (!src || !navigator.clipboard) return;
      navigator.clipboard.writeText(src.textContent.trim()).then(function () {
        var label = b.textContent;
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = label; }, 1500);
      });
    });
  });
})();
