// The complaint/report form: photos upload in the background as soon as they are picked (with
// progress), the case is submitted once, as JSON, with an Idempotency-Key that survives retries.
(function () {
  "use strict";
  var form = document.getElementById("case-form");
  if (!form) { return; }

  var maxPhotos = parseInt(form.dataset.maxPhotos || "9", 10);
  var maxBytes = parseInt(form.dataset.maxMb || "20", 10) * 1024 * 1024;
  var photoInput = document.getElementById("photo-input");
  var photoList = document.getElementById("photo-list");
  var submitBtn = document.getElementById("submit-btn");
  var errorBox = document.getElementById("form-error");
  var photos = [];          // {id, li, done}
  var pending = 0;
  var location = null;      // {lat, lng, coord_system}
  var idempotencyKey = newKey();

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return "k-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function problemMessage(xhrOrBody, fallback) {
    try {
      var body = typeof xhrOrBody === "string" ? JSON.parse(xhrOrBody) : xhrOrBody;
      if (body && body.errors && body.errors.length && body.code === "validation_error") {
        return body.detail_zh + " " + body.errors.map(function (e) { return e.field; }).join("，");
      }
      return (body && (body.detail_zh || body.title_zh)) || fallback;
    } catch (e) { return fallback; }
  }

  function refreshSubmit() {
    submitBtn.disabled = pending > 0;
    submitBtn.textContent = pending > 0 ? "照片上传中…" : "提交";
  }

  // --- kind: which fields apply -----------------------------------------------------------
  function currentKind() {
    var checked = form.querySelector("input[name=kind]:checked");
    return checked ? checked.value : "report";
  }
  function applyKind() {
    var kind = currentKind();
    var complaint = kind !== "report";
    document.getElementById("request-field").hidden = !complaint;
    document.getElementById("anonymous-choice").hidden = complaint;
    document.getElementById("person-legend").textContent = complaint
      ? "投诉人信息（必填，投诉须实名）"
      : "举报人信息（可选，实名举报可获告知办理结果）";
    if (complaint) { document.getElementById("anonymous").checked = false; }
    applyAnonymous();
  }
  function applyAnonymous() {
    var anonymous = document.getElementById("anonymous").checked;
    ["person-name", "person-phone"].forEach(function (id) {
      var input = document.getElementById(id);
      input.disabled = anonymous;
      if (anonymous) { input.value = ""; }
    });
  }
  Array.prototype.forEach.call(form.querySelectorAll("input[name=kind]"), function (radio) {
    radio.addEventListener("change", applyKind);
  });
  document.getElementById("anonymous").addEventListener("change", applyAnonymous);

  // --- category: its own fields -------------------------------------------------------------
  var category = document.getElementById("category");
  function applyCategory() {
    Array.prototype.forEach.call(form.querySelectorAll(".extra-fields"), function (box) {
      box.hidden = box.dataset.category !== category.value;
    });
  }
  category.addEventListener("change", applyCategory);

  // --- location -----------------------------------------------------------------------------
  var locationStatus = document.getElementById("location-status");
  function setLocation(lat, lng, source) {
    location = { lat: lat, lng: lng, coord_system: "wgs84" };
    locationStatus.textContent = "已定位（" + source + "）";
  }
  document.getElementById("locate-btn").addEventListener("click", function () {
    if (!navigator.geolocation) { locationStatus.textContent = "浏览器不支持定位"; return; }
    locationStatus.textContent = "定位中…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      // The browser's Geolocation API reports WGS-84.
      setLocation(pos.coords.latitude, pos.coords.longitude, "当前位置");
    }, function () { locationStatus.textContent = "无法获取位置，请填写地址"; },
    { enableHighAccuracy: true, timeout: 10000 });
  });

  // --- photos -------------------------------------------------------------------------------
  function upload(file) {
    var li = document.createElement("li");
    var label = document.createElement("span");
    label.className = "name";
    label.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    var remove = document.createElement("button");
    remove.type = "button"; remove.className = "link"; remove.textContent = "移除";
    li.appendChild(label); li.appendChild(bar); li.appendChild(remove);
    photoList.appendChild(li);
    var entry = { id: null, li: li, done: false };
    photos.push(entry);
    remove.addEventListener("click", function () {
      photos = photos.filter(function (p) { return p !== entry; });
      li.remove();
    });
    if (file.size > maxBytes) {
      li.classList.add("failed");
      bar.remove();
      label.textContent = file.name + "：超过 " + (maxBytes / 1048576) + " MB，请压缩后再传";
      return;
    }
    pending += 1; refreshSubmit();
    var data = new FormData();
    data.append("file", file);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/media");
    xhr.timeout = 120000;  // slow uplinks: a 10 MB photo at 1 Mbit/s takes 80 s
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) { bar.value = Math.round(ev.loaded * 100 / ev.total); }
    });
    xhr.addEventListener("loadend", function () {
      pending -= 1; refreshSubmit();
      if (xhr.status === 201) {
        var body = JSON.parse(xhr.responseText);
        entry.id = body.id; entry.done = true;
        li.classList.add("uploaded");
        bar.value = 100;
        var img = document.createElement("img");
        img.src = body.urls.thumbnail; img.alt = file.name; img.className = "thumb";
        li.insertBefore(img, label);
        if (!location && body.suggested_location) {
          setLocation(body.suggested_location.lat, body.suggested_location.lng, "照片拍摄位置");
        }
      } else {
        li.classList.add("failed");
        label.textContent = file.name + "：" + problemMessage(xhr.responseText, "上传失败，请重试");
      }
    });
    xhr.send(data);
  }
  photoInput.addEventListener("change", function () {
    Array.prototype.forEach.call(photoInput.files, function (file) {
      if (photos.length >= maxPhotos) { showError("最多上传 " + maxPhotos + " 张照片"); return; }
      upload(file);
    });
    photoInput.value = "";
  });

  // --- submit -------------------------------------------------------------------------------
  function value(id) {
    var el = document.getElementById(id);
    return el && el.value.trim() ? el.value.trim() : null;
  }
  function collectExtra() {
    var extra = {};
    var box = form.querySelector('.extra-fields[data-category="' + category.value + '"]');
    if (!box) { return extra; }
    Array.prototype.forEach.call(box.querySelectorAll("[data-extra]"), function (el) {
      var v = el.value.trim();
      if (!v) { return; }
      if (el.type === "number") { extra[el.dataset.extra] = parseFloat(v); }
      else if (el.type === "datetime-local") { extra[el.dataset.extra] = v + ":00+08:00"; }
      else { extra[el.dataset.extra] = v; }
    });
    return extra;
  }
  function render(result) {
    form.hidden = true;
    document.getElementById("result").hidden = false;
    document.getElementById("result-number").textContent = result.tracking_number +
      (result.linked.length ? "（关联：" + result.linked.map(function (c) { return c.tracking_number; }).join("、") + "）" : "");
    document.getElementById("result-token").textContent = result.access_token;
    var d = result.deadlines;
    document.getElementById("result-deadline").textContent = d.acceptance_due
      ? "受理决定 " + d.acceptance_due : "核查 " + (d.handling_due || "");
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    showError("");
    if (pending > 0) { showError("请等待照片上传完成"); return; }
    var kind = currentKind();
    var anonymous = kind === "report" && document.getElementById("anonymous").checked;
    var person = null;
    if (!anonymous && (value("person-name") || value("person-phone"))) {
      person = { name: value("person-name"), phone: value("person-phone") };
    }
    var payload = {
      kind: kind,
      category: category.value,
      description: value("description") || "",
      business: { name: value("business-name"), address: value("business-address"), uscc: value("business-uscc") },
      extra: collectExtra(),
      media: photos.filter(function (p) { return p.done; }).map(function (p) { return p.id; }),
      complainant: person,
      request: kind === "report" ? null : value("request"),
      anonymous: anonymous
    };
    if (location) { payload.location = location; }
    if (form.dataset.instrumentToken) { payload.instrument_token = form.dataset.instrumentToken; }
    if (form.dataset.certificateNumber) { payload.certificate_number = form.dataset.certificateNumber; }
    if (form.dataset.regionCode) { payload.region_code = form.dataset.regionCode; }
    submitBtn.disabled = true; submitBtn.textContent = "提交中…";
    fetch("/api/v1/cases", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
      body: JSON.stringify(payload),
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(function (body) { return { status: response.status, body: body }; });
    }).then(function (res) {
      if (res.status === 201) { render(res.body); return; }
      if (res.status === 409 && res.body.code === "idempotency_key_reused") { idempotencyKey = newKey(); }
      if (res.status === 422 || res.status === 400) { idempotencyKey = newKey(); }
      showError(problemMessage(res.body, "提交失败，请重试"));
      refreshSubmit();
    }).catch(function () {
      // Network failure: keep the same key, so a retry cannot create a second case.
      showError("网络异常，请稍后点击提交重试（不会重复提交）");
      refreshSubmit();
    });
  });

  applyKind();
  applyCategory();
  refreshSubmit();
})();
