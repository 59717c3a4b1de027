// The complaint/report form: photos upload in the background as soon as they are picked (with
// progress), the case is submitted once, as JSON, with an Idempotency-Key that survives retries.
// Errors from the API (problem+json) are shown in Chinese beside the field their path names.
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
  var location = null;      // {lat, lng, coord_system}: only what the person chose to send
  var offered = null;       // a photo's location, until the person accepts or declines it
  var declined = false;     // declined once: later photos do not ask again
  var idempotencyKey = newKey();

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return "k-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function parseProblem(xhrOrBody) {
    try {
      return typeof xhrOrBody === "string" ? JSON.parse(xhrOrBody) : xhrOrBody;
    } catch (e) { return null; }
  }

  function problemMessage(xhrOrBody, fallback) {
    var body = parseProblem(xhrOrBody);
    if (body && body.errors && body.errors.length && body.errors[0].message_zh) {
      return body.errors[0].message_zh;
    }
    return (body && (body.detail_zh || body.title_zh)) || fallback;
  }

  function refreshSubmit() {
    submitBtn.disabled = pending > 0;
    submitBtn.textContent = pending > 0 ? "照片上传中…" : "提交";
  }

  // --- errors beside their fields -----------------------------------------------------------
  // The API names a field by its path in the JSON body ("body.complainant.phone" from request
  // validation, "complainant.phone" from the case rules); this is the form control for each.
  var FIELD_IDS = {
    "kind": "kind-first",
    "category": "category",
    "description": "description",
    "business": "business-name",
    "business.name": "business-name",
    "business.address": "business-address",
    "business.uscc": "business-uscc",
    "region_code": "business-address",
    "location": "locate-btn",
    "complainant": "person-name",
    "complainant.name": "person-name",
    "complainant.phone": "person-phone",
    "anonymous": "anonymous",
    "request": "request",
    "media": "photo-input"
  };
  // Sentences for the errors a person can make in each field; others use the API's message_zh.
  var MESSAGES = {
    "description": {
      "missing": "请描述发生了什么。",
      "string_too_short": "请至少用 5 个字描述发生了什么：时间、地点、经过。",
      "string_too_long": "描述最多 4000 字，请精简后再提交。"
    },
    "complainant.phone": {
      "value_error": "手机号码不正确：请填 11 位手机号，或带区号的固定电话（如 029-33221100）。",
      "string_too_long": "手机号码不正确：请填 11 位手机号，或带区号的固定电话（如 029-33221100）。"
    },
    "business.uscc": {
      "value_error": "统一社会信用代码不正确：应为 18 位，可在营业执照上找到；不知道可以不填。"
    }
  };
  // Codes of whole-request problems that belong to one field.
  var CODE_FIELDS = { "region_required": "business.address" };

  function fieldPath(raw) {
    return raw.replace(/^body\./, "");
  }

  function controlFor(path) {
    if (path.indexOf("extra.") === 0) {
      var box = form.querySelector('.extra-fields[data-category="' + category.value + '"]');
      return box ? box.querySelector('[data-extra="' + path.slice(6) + '"]') : null;
    }
    if (path.indexOf("media") === 0) { return photoInput; }
    var id = FIELD_IDS[path] || FIELD_IDS[path.split(".")[0]];
    if (id === "kind-first") { return form.querySelector("input[name=kind]"); }
    return id ? document.getElementById(id) : null;
  }

  function messageFor(path, error) {
    var own = MESSAGES[path] && MESSAGES[path][error.type];
    return own || error.message_zh || "这一项不符合要求，请检查后重新填写。";
  }

  function clearFieldErrors() {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (p) {
      var control = document.getElementById(p.dataset.for);
      if (control) {
        control.removeAttribute("aria-invalid");
        var ids = (control.getAttribute("aria-describedby") || "").split(" ").filter(function (x) {
          return x && x !== p.id;
        });
        if (ids.length) { control.setAttribute("aria-describedby", ids.join(" ")); }
        else { control.removeAttribute("aria-describedby"); }
      }
      p.remove();
    });
  }

  // The place under which a field's message goes: after its label (or the photo picker, or
  // the location line), so it reads as part of that field.
  function anchorOf(control) {
    if (control === photoInput) { return control.closest(".photo-picker"); }
    if (control.id === "locate-btn") { return document.getElementById("location-field"); }
    if (control.name === "kind") { return control.closest("fieldset"); }
    return control.closest("label") || control;
  }

  function showFieldError(control, message) {
    var errorId = control.id + "-error";
    var p = document.getElementById(errorId);
    if (p) { p.textContent += " " + message; return; }
    p = document.createElement("p");
    p.className = "field-error";
    p.id = errorId;
    p.dataset.for = control.id;
    p.textContent = message;
    anchorOf(control).insertAdjacentElement("afterend", p);
    control.setAttribute("aria-invalid", "true");
    var described = control.getAttribute("aria-describedby");
    control.setAttribute("aria-describedby", described ? described + " " + errorId : errorId);
  }

  // Shows every error of a problem beside its field and moves focus to the first field on the
  // page; what names no field goes in the box above the submit button.
  function showProblem(body, fallback) {
    clearFieldErrors();
    var errors = (body && body.errors) ? body.errors.slice() : [];
    if (body && !errors.length && CODE_FIELDS[body.code]) {
      errors.push({ field: CODE_FIELDS[body.code], type: body.code, message_zh: body.detail_zh });
    }
    var placed = [];
    var unplaced = [];
    errors.forEach(function (error) {
      var path = fieldPath(String(error.field || ""));
      var control = controlFor(path);
      if (control && !control.closest("[hidden]")) {
        showFieldError(control, messageFor(path, error));
        placed.push(control);
      } else {
        unplaced.push(messageFor(path, error));
      }
    });
    if (!placed.length) {
      showError(unplaced.join("") || (body && (body.detail_zh || body.title_zh)) || fallback);
      errorBox.focus();
      return;
    }
    showError("有 " + (placed.length + unplaced.length) + " 处需要修改，已在对应位置标出。" +
      unplaced.join(""));
    placed.sort(function (a, b) {
      return a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
    });
    placed[0].focus();
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
    Array.prototype.forEach.call(form.querySelectorAll("[data-complaint-only]"), function (mark) {
      mark.hidden = !complaint;
    });
    if (complaint) { document.getElementById("anonymous").checked = false; }
    applyAnonymous();
  }
  // An anonymous report sends no name or phone: the inputs are hidden, but what was typed is
  // kept, so switching to a complaint (which needs both) does not make the person type it again.
  function applyAnonymous() {
    var anonymous = currentKind() === "report" && document.getElementById("anonymous").checked;
    document.getElementById("person-inputs").hidden = anonymous;
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

  // --- location: sent only when the person chose it ------------------------------------------
  var locationStatus = document.getElementById("location-status");
  var locationClear = document.getElementById("location-clear");
  var locationOffer = document.getElementById("location-offer");
  function coords(lat, lng) {
    return "纬度 " + lat.toFixed(5) + "，经度 " + lng.toFixed(5);
  }
  // A small map around the point from the configured tile source (none by default): 3 × 3
  // tiles of 256 px at zoom 16 (~2.4 m a pixel in 咸阳), the point at the centre of the box.
  var mapBox = document.getElementById("location-map");
  var MAP_ZOOM = 16;
  function showMap(lat, lng) {
    var tileUrl = form.dataset.mapTileUrl || "";
    if (!tileUrl) { return; }
    var n = Math.pow(2, MAP_ZOOM);
    var rad = lat * Math.PI / 180;
    var x = (lng + 180) / 360 * n;
    var y = (1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2 * n;
    mapBox.textContent = "";
    mapBox.hidden = false;
    mapBox.setAttribute("aria-label", "地图：" + coords(lat, lng));
    var width = mapBox.clientWidth;
    var height = mapBox.clientHeight;
    for (var dx = -1; dx <= 1; dx += 1) {
      for (var dy = -1; dy <= 1; dy += 1) {
        var tx = Math.floor(x) + dx;
        var ty = Math.floor(y) + dy;
        var img = document.createElement("img");
        img.alt = "";
        img.className = "tile";
        img.src = tileUrl.replace("{z}", MAP_ZOOM).replace("{x}", (tx + n) % n).replace("{y}", ty);
        img.style.left = Math.round(width / 2 + (tx - x) * 256) + "px";
        img.style.top = Math.round(height / 2 + (ty - y) * 256) + "px";
        mapBox.appendChild(img);
      }
    }
    var marker = document.createElement("span");
    marker.className = "marker";
    mapBox.appendChild(marker);
    if (form.dataset.mapAttribution) {
      var credit = document.createElement("span");
      credit.className = "credit";
      credit.textContent = form.dataset.mapAttribution;
      mapBox.appendChild(credit);
    }
  }
  function hideMap() {
    mapBox.hidden = true;
    mapBox.textContent = "";
  }
  function setLocation(lat, lng, source) {
    location = { lat: lat, lng: lng, coord_system: "wgs84" };
    locationStatus.textContent = "将提交" + source + "：" + coords(lat, lng);
    locationClear.hidden = false;
    locationOffer.hidden = true;
    offered = null;
    showMap(lat, lng);
  }
  function clearLocation() {
    location = null;
    hideMap();
    locationStatus.textContent = "未提供位置（可选）";
    locationClear.hidden = true;
  }
  function offerLocation(lat, lng) {
    offered = { lat: lat, lng: lng };
    document.getElementById("location-offer-text").textContent =
      "照片中带有拍摄位置（" + coords(lat, lng) + "）。要把它作为事发地点一并提交吗？";
    locationOffer.hidden = false;
    showMap(lat, lng);
  }
  document.getElementById("location-accept").addEventListener("click", function () {
    if (offered) { setLocation(offered.lat, offered.lng, "照片拍摄位置"); }
    locationStatus.focus();
  });
  document.getElementById("location-reject").addEventListener("click", function () {
    offered = null;
    declined = true;
    locationOffer.hidden = true;
    hideMap();
    document.getElementById("locate-btn").focus();
  });
  locationClear.addEventListener("click", function () {
    clearLocation();
    document.getElementById("locate-btn").focus();
  });
  locationStatus.tabIndex = -1;
  document.getElementById("locate-btn").addEventListener("click", function () {
    if (!navigator.geolocation) { locationStatus.textContent = "浏览器不支持定位，请填写地址"; return; }
    locationStatus.textContent = "定位中…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      // The browser's Geolocation API reports WGS-84.
      setLocation(pos.coords.latitude, pos.coords.longitude, "当前位置");
    }, function () { locationStatus.textContent = "无法获取位置，请填写地址"; },
    { enableHighAccuracy: true, timeout: 10000 });
  });

  // --- photos -------------------------------------------------------------------------------
  // A row: thumbnail (once uploaded), the file name and, under it, either the progress bar
  // (while uploading) or what went wrong (in place of the bar), then 移除.
  function upload(file) {
    var li = document.createElement("li");
    var thumb = document.createElement("span");
    thumb.className = "thumb-slot";
    thumb.setAttribute("aria-hidden", "true");
    var info = document.createElement("span");
    info.className = "info";
    var name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    name.title = file.name;
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", "上传进度 " + file.name);
    info.appendChild(name); info.appendChild(bar);
    var remove = document.createElement("button");
    remove.type = "button"; remove.className = "link remove"; remove.textContent = "移除";
    remove.setAttribute("aria-label", "移除 " + file.name);
    li.appendChild(thumb); li.appendChild(info); li.appendChild(remove);
    photoList.appendChild(li);
    var entry = { id: null, li: li, done: false };
    photos.push(entry);
    remove.addEventListener("click", function () {
      photos = photos.filter(function (p) { return p !== entry; });
      li.remove();
      photoInput.focus();
    });
    function fail(message) {
      li.classList.add("failed");
      bar.remove();
      var why = document.createElement("span");
      why.className = "photo-error";
      why.textContent = message;
      info.appendChild(why);
    }
    if (file.size > maxBytes) {
      fail("照片超过 " + (maxBytes / 1048576) + " MB，未上传。请压缩后再选。");
      return;
    }
    pending += 1; refreshSubmit();
    var data = new FormData();
    data.append("file", file);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/media");
    xhr.timeout = 120000;  // slow uplinks: a 10 MB photo at 1 Mbit/s takes 80 s
    xhr.upload.addEventListener("progress", function (ev) {
      // The last percent waits for the server's answer: a full bar means the photo was taken.
      if (ev.lengthComputable) { bar.value = Math.min(99, Math.round(ev.loaded * 100 / ev.total)); }
    });
    xhr.addEventListener("loadend", function () {
      pending -= 1; refreshSubmit();
      if (xhr.status === 201) {
        var body = JSON.parse(xhr.responseText);
        entry.id = body.id; entry.done = true;
        li.classList.add("uploaded");
        bar.remove();
        var img = document.createElement("img");
        img.src = body.urls.thumbnail; img.alt = ""; img.className = "thumb";
        thumb.appendChild(img);
        var ok = document.createElement("span");
        ok.className = "photo-ok";
        ok.textContent = "已上传";
        info.appendChild(ok);
        if (!location && !offered && !declined && body.suggested_location) {
          offerLocation(body.suggested_location.lat, body.suggested_location.lng);
        }
      } else if (xhr.status === 0) {
        fail("网络中断，未上传。请移除后重新添加。");
      } else {
        fail(problemMessage(xhr.responseText, "上传失败，请移除后重新添加。"));
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
    var section = document.getElementById("result");
    section.hidden = false;
    document.getElementById("result-number").textContent = result.tracking_number +
      (result.linked.length ? "（关联：" + result.linked.map(function (c) { return c.tracking_number; }).join("、") + "）" : "");
    // One span per group of four, each kept whole: a narrow phone wraps the code between groups.
    var token = document.getElementById("result-token");
    token.textContent = "";
    result.access_token.match(/[^-]+-?/g).forEach(function (group) {
      var span = document.createElement("span");
      span.textContent = group;
      token.appendChild(span);
    });
    var d = result.deadlines;
    document.getElementById("result-deadline").textContent = d.acceptance_due
      ? "受理决定 " + d.acceptance_due : "核查 " + (d.handling_due || "");
    // The code travels in the fragment: browsers never send it to the server or in a Referer.
    document.getElementById("track-link").href = "/complaints/track#" + new URLSearchParams({
      number: result.tracking_number, code: result.access_token
    }).toString();
    var copy = document.getElementById("copy-code");
    copy.dataset.copy = "受理编号 " + result.tracking_number + "\n查询码 " + result.access_token;
    section.focus();
  }
  document.getElementById("copy-code").addEventListener("click", function () {
    var status = document.getElementById("copy-status");
    var text = this.dataset.copy || "";
    function done() { status.textContent = "已复制"; }
    function manual() {
      // No clipboard (an older browser, or a page not served over HTTPS): select the code so
      // the person can copy it by hand.
      var range = document.createRange();
      range.selectNodeContents(document.getElementById("result-token"));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      status.textContent = "无法自动复制，已选中查询码，请长按复制";
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, manual);
    } else { manual(); }
  });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    showError("");
    clearFieldErrors();
    if (pending > 0) { showError("请等待照片上传完成"); return; }
    var kind = currentKind();
    var anonymous = kind === "report" && document.getElementById("anonymous").checked;
    var person = null;
    if (!anonymous && (value("person-name") || value("person-phone") || value("person-address"))) {
      person = { name: value("person-name"), phone: value("person-phone") };
      if (value("person-address")) { person.address = value("person-address"); }
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
      showProblem(res.body, "提交失败，请重试");
      refreshSubmit();
    }).catch(function () {
      // Network failure: keep the same key, so a retry cannot create a second case.
      showError("网络异常，请稍后点击提交重试（不会重复提交）");
      errorBox.focus();
      refreshSubmit();
    });
  });

  applyKind();
  applyCategory();
  refreshSubmit();
})();
