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

  // The sticker's QR code through the camera in every browser that gives the page one: the
  // browser's own BarcodeDetector where it has one (Chrome on Android), else the video's frames
  // drawn on a canvas and decoded by jsQR (static/vendor/jsqr, pinned in package.json), loaded
  // only when needed. Either way the decoded text goes into the field and the server looks it up;
  // the certificate number can always be typed instead.
  var dialog = document.getElementById("scan-dialog");
  var video = document.getElementById("scan-video");
  var scanStatus = document.getElementById("scan-status");
  var scanning = null;  // {stream, target, timer} while the camera is on

  function stopScan() {
    if (!scanning) { return; }
    clearTimeout(scanning.timer);
    scanning.stream.getTracks().forEach(function (t) { t.stop(); });
    video.srcObject = null;
    scanning = null;
  }
  function closeScan() {
    stopScan();
    if (dialog.open) { dialog.close(); }
  }
  function cameraError(err) {
    var name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return "浏览器未允许本网站使用相机：请在浏览器或系统设置中允许相机权限后重试，或直接输入证书编号。";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return "本设备没有可用的相机：请直接输入标志上的证书编号。";
    }
    if (name === "NotReadableError" || name === "AbortError") {
      return "相机正被其他应用占用：请关闭其他使用相机的应用后重试，或直接输入证书编号。";
    }
    return "无法打开相机：请直接输入标志上的证书编号。";
  }
  var decoderReady = null;
  function loadDecoder() {
    if (window.jsQR) { return Promise.resolve(); }
    if (!decoderReady) {
      decoderReady = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = "/static/vendor/jsqr/jsQR.js";
        script.onload = resolve;
        script.onerror = function () { decoderReady = null; reject(new Error("decoder")); };
        document.head.appendChild(script);
      });
    }
    return decoderReady;
  }
  // One frame's codes: a promise of the decoded text or null.
  function detector() {
    if ("BarcodeDetector" in window) {
      var native = new window.BarcodeDetector({ formats: ["qr_code"] });
      return Promise.resolve(function () {
        return native.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
      });
    }
    return loadDecoder().then(function () {
      var canvas = document.createElement("canvas");
      var ctx = canvas.getContext("2d", { willReadFrequently: true });
      return function () {
        var w = video.videoWidth, h = video.videoHeight;
        if (!w || !h) { return Promise.resolve(null); }
        // At most 640 px wide: a sticker filling part of the frame still decodes, and a phone
        // keeps up at a few frames a second.
        var scale = Math.min(1, 640 / w);
        canvas.width = Math.round(w * scale); canvas.height = Math.round(h * scale);
        ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
        var frame = ctx.getImageData(0, 0, canvas.width, canvas.height);
        var code = window.jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" });
        return Promise.resolve(code && code.data ? code.data : null);
      };
    });
  }
  function startScan(target) {
    closeScan();
    scanStatus.textContent = "正在打开相机…";
    video.hidden = true;
    dialog.showModal();
    var decode;
    detector().then(function (found) {
      decode = found;
      return navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    }, function () {
      throw { name: "decoder" };
    }).then(function (stream) {
      if (!dialog.open) { stream.getTracks().forEach(function (t) { t.stop(); }); return; }
      scanning = { stream: stream, target: target, timer: null };
      video.srcObject = stream; video.hidden = false;
      video.play().catch(function () { /* muted inline video: autoplay is allowed */ });
      scanStatus.textContent = "请将检定合格标志上的二维码对准取景框";
      var started = Date.now();
      var look = function () {
        if (!scanning || scanning.stream !== stream) { return; }
        decode().then(function (text) {
          if (!scanning || scanning.stream !== stream) { return; }
          if (text) {
            target.value = text.slice(0, 2000);
            save(); closeScan(); target.focus();
            say("已扫码，提交时将核对该标志的检定证书");
            return;
          }
          if (Date.now() - started > 60000) {
            stopScan(); video.hidden = true;
            scanStatus.textContent = "一分钟内未识别到二维码：请擦净标志、靠近后重试，或直接输入证书编号。";
            return;
          }
          scanning.timer = setTimeout(look, 150);
        }).catch(function () {
          // One frame the detector could not read (not ready yet): the next one is tried.
          if (scanning && scanning.stream === stream) { scanning.timer = setTimeout(look, 300); }
        });
      };
      look();
    }).catch(function (err) {
      stopScan(); video.hidden = true;
      scanStatus.textContent = err && err.name === "decoder"
        ? "扫码程序未能加载（网络不好时可能如此）：请稍后重试，或直接输入证书编号。"
        : cameraError(err);
    });
  }
  if (dialog && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    form.querySelectorAll(".scan-button").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { startScan(button.parentNode.querySelector("input")); });
    });
    document.getElementById("scan-close").addEventListener("click", closeScan);
    dialog.addEventListener("close", stopScan);  // Esc closes a modal dialog too
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
