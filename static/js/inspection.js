// 现场检查 on a phone with a weak signal: the form's state (every field, the uploaded photos'
// ids, and the submission's Idempotency-Key) is kept in localStorage under the inspection's id,
// so leaving the page, a reload or a dead battery loses nothing; the result is sent with the same
// key until the server has answered, so a retry after a lost answer never records twice.
(function () {
  "use strict";
  var form = document.getElementById("inspection-form");
  if (!form) { return; }
  var id = form.dataset.inspection;
  var storeKey = "gongzhi.inspection." + id;
  var statusBox = document.getElementById("form-status");
  var submitBtn = document.getElementById("submit-inspection");
  var photoInput = document.getElementById("photo-input");
  var photoList = document.getElementById("photo-list");

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey) || "null") || {}; } catch (e) { return {}; }
  }
  var state = load();
  if (!state.key) { state.key = newKey(); }
  if (!state.photos) { state.photos = []; }
  function save() {
    state.fields = {};
    form.querySelectorAll("fieldset.check").forEach(function (fs) {
      var values = {};
      fs.querySelectorAll("input").forEach(function (input) {
        values[input.name] = input.type === "checkbox" ? input.checked : input.value;
      });
      state.fields[fs.dataset.registration] = values;
    });
    state.general = {};
    form.querySelectorAll(":scope > fieldset:not(.check) input, :scope > label textarea").forEach(function (input) {
      if (input.type === "file") { return; }
      if (input.type === "radio") { if (input.checked) { state.general[input.name] = input.value; } return; }
      state.general[input.name] = input.value;
    });
    try { localStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { /* storage full: the form still works */ }
  }
  function restore() {
    var fields = state.fields || {};
    form.querySelectorAll("fieldset.check").forEach(function (fs) {
      var values = fields[fs.dataset.registration];
      if (!values) { return; }
      fs.querySelectorAll("input").forEach(function (input) {
        if (!(input.name in values)) { return; }
        if (input.type === "checkbox") { input.checked = !!values[input.name]; } else { input.value = values[input.name]; }
      });
    });
    var general = state.general || {};
    form.querySelectorAll(":scope > fieldset:not(.check) input, :scope > label textarea").forEach(function (input) {
      if (!(input.name in general)) { return; }
      if (input.type === "radio") { input.checked = input.value === general[input.name]; } else if (input.type !== "file") { input.value = general[input.name]; }
    });
    renderPhotos();
  }
  function renderPhotos() {
    photoList.textContent = "";
    state.photos.forEach(function (p, n) {
      var img = document.createElement("img");
      img.src = p.thumbnail; img.width = 72; img.height = 72; img.alt = "现场照片 " + (n + 1);
      photoList.appendChild(img);
    });
  }
  function say(text) { statusBox.textContent = text; }

  form.addEventListener("input", save);
  form.addEventListener("change", save);

  photoInput.addEventListener("change", function () {
    var file = photoInput.files && photoInput.files[0];
    if (!file) { return; }
    var body = new FormData();
    body.append("file", file);
    say("照片上传中…");
    fetch("/api/v1/media", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); })
      .then(function (res) {
        if (res.status !== 201) { say((res.body && res.body.detail_zh) || "照片上传失败"); return; }
        state.photos.push({ id: res.body.id, thumbnail: res.body.urls.thumbnail });
        save(); renderPhotos(); say("照片已上传（" + state.photos.length + " 张）");
        photoInput.value = "";
      })
      .catch(function () { say("网络异常，照片未上传，请稍后重选"); });
  });

  // A scanner only where the browser has one (BarcodeDetector, Chrome on Android): elsewhere the
  // sticker's certificate number is typed, and the server looks either up in the registry.
  var video = document.getElementById("scan-video");
  if ("BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    form.querySelectorAll(".scan-button").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = button.parentNode.querySelector("input");
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
          video.srcObject = stream; video.hidden = false; video.play();
          var stop = function () { stream.getTracks().forEach(function (t) { t.stop(); }); video.hidden = true; };
          var tries = 0;
          (function look() {
            detector.detect(video).then(function (codes) {
              if (codes.length) { target.value = codes[0].rawValue; save(); stop(); say("已扫码"); return; }
              if (++tries > 150) { stop(); say("未识别到二维码，请手动输入证书编号"); return; }
              setTimeout(look, 200);
            }).catch(function () { stop(); });
          })();
        }).catch(function () { say("无法使用相机，请手动输入证书编号"); });
      });
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    save();
    var checks = [];
    form.querySelectorAll("fieldset.check").forEach(function (fs) {
      var v = state.fields[fs.dataset.registration];
      checks.push({
        registration_id: fs.dataset.registration,
        sticker_present: v.sticker_present, scanned: v.scanned, seal_intact: v.seal_intact,
        reading_ok: v.reading_ok, note: v.note
      });
    });
    var g = state.general;
    var payload = {
      checks: checks, photos: state.photos.map(function (p) { return p.id; }),
      acknowledgement: g.acknowledgement || "signed", signatory: g.signatory || "",
      follow_up: g.follow_up || "correct", note: g.note || ""
    };
    submitBtn.disabled = true; say("提交中…");
    fetch("/api/v1/enforcement/inspections/" + id + "/result", {
      method: "PUT",
      headers: { "Content-Type": "application/json", "Idempotency-Key": state.key },
      body: JSON.stringify(payload),
      credentials: "same-origin"
    }).then(function (r) {
      return r.json().then(function (b) { return { status: r.status, body: b }; });
    }).then(function (res) {
      if (res.status === 200) {
        localStorage.removeItem(storeKey);
        window.location.reload();
        return;
      }
      // Refused for what was sent: a corrected form is another submission, with a new key.
      if (res.status === 422 || res.status === 409) { state.key = newKey(); save(); }
      say((res.body && (res.body.detail_zh || res.body.title_zh)) || "提交失败，请重试");
      submitBtn.disabled = false;
    }).catch(function () {
      // No answer: the same key again, so the retry cannot record a second result.
      say("网络异常，检查记录已保存在本机，信号恢复后再点提交（不会重复提交）");
      submitBtn.disabled = false;
    });
  });

  restore();
  save();
})();
