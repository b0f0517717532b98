/* The hosted form page: passes on the visitor id hatake's tracking keeps in this site's cookie. */
(function () {
  "use strict";
  var m = document.cookie.match(/(?:^|;\s*)hk_vid=([A-Za-z0-9_-]{1,64})/);
  var field = document.querySelector("form.hk-form [name=hk_vid]");
  if (m && field) { field.value = m[1]; }
})();
