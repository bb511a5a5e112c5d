// Starts Swagger UI on /api/docs (api/templates/swagger_ui.html), as flask-smorest's own page
// does, without inline script: the spec's address comes from the container, and
// OPENAPI_SWAGGER_UI_CONFIG (a JSON block on the page) overrides any setting.
//
// Then names what Swagger UI 4 leaves unnamed, each time it draws (WCAG 4.1.2 and 2.1.1, as
// axe-core checks them): icon-only buttons, the request body's textarea, and the code blocks,
// which scroll when long or wide and which a keyboard can only scroll once they take focus.
// Only elements with no name of their own are touched.
"use strict";

// Icon-only buttons, by where they sit: [selector, name].
var BUTTONS = [
  [".close-modal", "Close"],
  [".copy-to-clipboard button", "Copy to clipboard"],
  [".model-box-control", "Show or hide the schema"],
  [".opblock-control-arrow, .expand-operation", "Show or hide the operation"],
];

// Code blocks, from the most particular to the most general: [selector, name].
var CODE = [
  [".curl-command pre", "curl command"],
  [".request-url pre", "Request URL"],
  [".live-responses-table .highlight-code pre", "Response body"],
  [".live-responses-table pre", "Response headers"],
  [".body-param__example", "Example request body"],
  ["pre", "Example"],
];

function unnamed(element) {
  return (
    !element.getAttribute("aria-label") &&
    !element.getAttribute("aria-labelledby") &&
    !element.title &&
    !(element.labels && element.labels.length) &&
    !(element.tagName === "BUTTON" && element.textContent.trim())
  );
}

// "POST /api/v1/auth/register" for an element inside an operation, else "".
function operationOf(element) {
  var block = element.closest(".opblock");
  var method = block && block.querySelector(".opblock-summary-method");
  var path = block && block.querySelector(".opblock-summary-path");
  return method && path ? method.textContent + " " + (path.dataset.path || path.textContent) : "";
}

function firstMatch(element, pairs) {
  for (var i = 0; i < pairs.length; i++) {
    if (element.matches(pairs[i][0])) {
      return pairs[i][1];
    }
  }
  return null;
}

function nameButton(button) {
  var name = firstMatch(button, BUTTONS);
  var model = button.closest(".model-container");
  if (name && model && model.dataset.name && button.matches(".model-box-control")) {
    name = "Show or hide schema " + model.dataset.name;
  }
  if (name) {
    button.setAttribute("aria-label", name);
  }
}

function nameCode(pre) {
  var name = firstMatch(pre, CODE);
  var response = pre.closest(".responses-table:not(.live-responses-table) tr.response");
  if (name === "Example" && response && response.dataset.code) {
    name = "Example " + response.dataset.code + " response";
  }
  var operation = operationOf(pre);
  pre.setAttribute("tabindex", "0");
  pre.setAttribute("role", "region");
  pre.setAttribute("aria-label", operation ? name + ", " + operation : name);
}

function nameTextarea(textarea) {
  var parameter = textarea.closest("[data-param-name]");
  if (textarea.matches(".body-param__text")) {
    textarea.setAttribute("aria-label", "Request body");
  } else if (parameter) {
    textarea.setAttribute("aria-label", parameter.dataset.paramName);
  }
}

function nameAll(container) {
  container.querySelectorAll("button:not([aria-label])").forEach(function (button) {
    if (unnamed(button)) {
      nameButton(button);
    }
  });
  // Swagger UI's highlighted code and the server's answers; not the title's version badges.
  container.querySelectorAll("pre.microlight:not([tabindex])").forEach(nameCode);
  container.querySelectorAll("textarea:not([aria-label])").forEach(function (textarea) {
    if (unnamed(textarea)) {
      nameTextarea(textarea);
    }
  });
}

window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui-container");
  var config = { url: container.dataset.specUrl, dom_id: "#swagger-ui-container" };
  var overrides = JSON.parse(document.getElementById("swagger-ui-config").textContent);
  for (var name in overrides) {
    config[name] = overrides[name];
  }
  window.ui = SwaggerUIBundle(config);
  // The browser hands over each render's changes in one batch, once the render is done, so
  // the page is named before anyone sees or tests it. Only a render that added elements is
  // looked at, and then only elements not yet named: React keeps the attributes it did not
  // set, so a name stays through later renders. The Authorize dialog is drawn in here too.
  new MutationObserver(function (changes) {
    var added = changes.some(function (change) {
      return change.addedNodes.length > 0;
    });
    if (added) {
      nameAll(container);
    }
  }).observe(container, { childList: true, subtree: true });
});
