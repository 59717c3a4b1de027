// 进度查询: a bookmarked tracking link carries the number and the 查询码 in its fragment
// (/complaints/track#number=…&code=…), which the browser never sends to a server or in a
// Referer. Fill the form from it and send it, as if the person had typed both.
(function () {
  "use strict";
  var form = document.getElementById("track-form");
  if (!form || !window.location.hash) { return; }
  var params = new URLSearchParams(window.location.hash.slice(1));
  var number = params.get("number");
  var code = params.get("code");
  if (!number || !code) { return; }
  document.getElementById("tracking-number").value = number.slice(0, 24);
  document.getElementById("access-token").value = code.slice(0, 128);
  form.submit();
})();
