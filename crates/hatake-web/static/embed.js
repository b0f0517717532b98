/* hatake forms on another site: <div data-hatake-form="SLUG"></div>
   <script src="https://HATAKE/f/embed.js" async></script>
   Loads each form from the hatake server this script came from and sends it there; errors are
   shown next to their fields, the thank-you message in place of the form. */
(function () {
  "use strict";
  var d = document, me = d.currentScript;
  if (!me || !me.src) { return; }
  var base = me.src.replace(/\/f\/embed\.js(\?.*)?$/, "");
  function visitor() {
    var m = d.cookie.match(/(?:^|;\s*)hk_vid=([A-Za-z0-9_-]{1,64})/);
    return m ? m[1] : "";
  }
  function show(form, body) {
    var fields = form.querySelectorAll("[data-error-for]");
    for (var i = 0; i < fields.length; i++) {
      fields[i].textContent = "";
      fields[i].parentNode.classList.remove("hk-has-error");
    }
    var alert = form.querySelector(".hk-alert");
    alert.hidden = false;
    alert.textContent = body.message || "";
    (body.errors || []).forEach(function (e) {
      var at = form.querySelector('[data-error-for="' + e.field + '"]');
      if (at) { at.textContent = e.message; at.parentNode.classList.add("hk-has-error"); }
    });
  }
  function wire(box, form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      /* Read when sent: the site's tracking script may have set the id after the form loaded. */
      var vid = form.querySelector("[name=hk_vid]");
      if (vid) { vid.value = visitor(); }
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      var body = new URLSearchParams(new FormData(form)).toString();
      fetch(form.action, { method: "POST", body: body, credentials: "omit",
        headers: { "Content-Type": "application/x-www-form-urlencoded" } })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          button.disabled = false;
          if (!answer.ok) { show(form, answer); return; }
          if (answer.redirect) { location.href = answer.redirect; return; }
          var p = d.createElement("p");
          p.className = "hk-thanks";
          p.setAttribute("role", "status");
          p.textContent = answer.message;
          box.replaceChildren(p);
        })
        .catch(function () { button.disabled = false; show(form, { message: "送信できませんでした / Could not send" }); });
    });
  }
  var boxes = d.querySelectorAll("[data-hatake-form]");
  /* The form's default look, unless the site styles it itself (data-hatake-style="none"). */
  var styled = Array.prototype.some.call(boxes, function (b) { return b.getAttribute("data-hatake-style") !== "none"; });
  if (styled && !d.querySelector("link[data-hatake-style]")) {
    var link = d.createElement("link");
    link.rel = "stylesheet";
    link.href = base + "/static/forms.css";
    link.setAttribute("data-hatake-style", "");
    d.head.appendChild(link);
  }
  Array.prototype.forEach.call(boxes, function (box) {
    var slug = box.getAttribute("data-hatake-form");
    var lang = box.getAttribute("data-lang") || (navigator.language || "ja").slice(0, 2);
    var url = base + "/f/" + encodeURIComponent(slug) + "/embed?lang=" + encodeURIComponent(lang) +
      "&url=" + encodeURIComponent(location.href) + "&ref=" + encodeURIComponent(d.referrer || "");
    fetch(url, { credentials: "omit" })
      .then(function (r) {
        /* A closed or missing form says so in the reader's language (plain text). */
        if (r.status === 404 || r.status === 410) {
          return r.text().then(function (text) { box.textContent = text; return null; });
        }
        if (!r.ok) { throw new Error(r.status); }
        return r.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        box.innerHTML = html;
        var form = box.querySelector("form.hk-form");
        if (form) { wire(box, form); }
      })
      .catch(function () { box.textContent = "フォームを読み込めませんでした / The form could not be loaded"; });
  });
})();
