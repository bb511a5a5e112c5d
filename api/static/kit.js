// The page kit's one script (api/templates/kit/fields.html): a live count of the characters left in a limited text field.
// Pages work without it (the browser enforces maxlength); it only tells the clerk as they type.
"use strict";
document.querySelectorAll("textarea[maxlength][data-counter]").forEach((field) => {
  const counter = document.getElementById(field.dataset.counter);
  if (!counter) return;
  const limit = Number(field.getAttribute("maxlength"));
  const show = () => {
    counter.textContent = `${field.value.length} / ${limit}`;
  };
  field.addEventListener("input", show);
  show();
});
