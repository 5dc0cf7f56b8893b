// Fills the demo clinic page with the clinic details from the server
// (config.json, made from bot/clinic.yml), and opens the chat from the page.
(function () {
  "use strict";

  function telHref(number) {
    return "tel:" + number.replace(/[^\d+]/g, "");
  }

  function fill(config) {
    document.querySelectorAll("[data-clinic]").forEach(function (node) {
      var value = config[node.getAttribute("data-clinic")];
      if (typeof value === "string" && value) node.textContent = value;
    });
    document.querySelectorAll("[data-clinic-tel]").forEach(function (node) {
      var value = config[node.getAttribute("data-clinic-tel")];
      if (typeof value === "string" && value) node.setAttribute("href", telHref(value));
    });
    document.querySelectorAll("[data-clinic-href]").forEach(function (node) {
      var value = config[node.getAttribute("data-clinic-href")];
      if (typeof value === "string" && /^https?:\/\//.test(value)) node.setAttribute("href", value);
    });
    if (config.name) document.title = config.name + " | Interventional pain care";
  }

  fetch("config.json", { cache: "no-store" })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(fill)
    .catch(function () {
      /* the page still reads sensibly with its placeholder text */
    });

  document.addEventListener("click", function (event) {
    var target = event.target.closest && event.target.closest("[data-open-chat]");
    if (target && window.PainClinicChat) window.PainClinicChat.open();
  });
})();
