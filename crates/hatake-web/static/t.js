/* hatake web tracking: reports this page view to the hatake server this script came from.
   A first-party visitor id is kept in the cookie hk_vid of this site (two years). */
(function () {
  "use strict";
  var d = document, w = window;
  var me = d.currentScript;
  if (!me || !me.src) { return; }
  var base = me.src.replace(/\/t\.js(\?.*)?$/, "");
  function visitor() {
    var found = d.cookie.match(/(?:^|;\s*)hk_vid=([A-Za-z0-9_-]{1,64})/);
    if (found) { return found[1]; }
    var id = "", bytes = new Uint8Array(16);
    (w.crypto || w.msCrypto).getRandomValues(bytes);
    for (var i = 0; i < bytes.length; i++) { id += ("0" + bytes[i].toString(16)).slice(-2); }
    var secure = location.protocol === "https:" ? "; Secure" : "";
    d.cookie = "hk_vid=" + id + "; Path=/; Max-Age=63072000; SameSite=Lax" + secure;
    return id;
  }
  function send() {
    var q = "v=" + encodeURIComponent(visitor()) +
      "&u=" + encodeURIComponent(location.href) +
      "&r=" + encodeURIComponent(d.referrer || "") +
      "&t=" + encodeURIComponent(d.title || "");
    var img = new Image(1, 1);
    img.src = base + "/t/p.gif?" + q;
  }
  send();
  w.hatake = { pageView: send };
})();
