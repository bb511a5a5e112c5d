// Starts Swagger UI on /api/docs (api/templates/swagger_ui.html), as flask-smorest's own page
// does, without inline script: the spec's address comes from the container, and
// OPENAPI_SWAGGER_UI_CONFIG (a JSON block on the page) overrides any setting.
"use strict";

window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui-container");
  var config = { url: container.dataset.specUrl, dom_id: "#swagger-ui-container" };
  var overrides = JSON.parse(document.getElementById("swagger-ui-config").textContent);
  for (var name in overrides) {
    config[name] = overrides[name];
  }
  window.ui = SwaggerUIBundle(config);
});
