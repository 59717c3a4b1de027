// The bureau's 双随机 desk (enforcement/desk_pages.py): the create form, the draw and the badge
// form submit JSON to the API with the session cookie (same origin, so the cross-site guard of
// portal/middleware.py lets them through); the API's errors are shown beside their fields.
(function () {
  "use strict";
  var errorBox = document.getElementById("form-error");

  function clearErrors(root) {
    root.querySelectorAll(".field-error").forEach(function (p) { p.hidden = true; p.textContent = ""; });
    root.querySelectorAll("[aria-invalid]").forEach(function (c) { c.removeAttribute("aria-invalid"); });
    if (errorBox) { errorBox.hidden = true; errorBox.textContent = ""; }
  }

  function showError(text) {
    if (!errorBox) { return; }
    errorBox.textContent = text;
    errorBox.hidden = false;
    errorBox.focus();
  }

  function place(box, control, text) {
    if (!box) { return false; }
    box.textContent = text;
    box.hidden = false;
    if (control) { control.setAttribute("aria-invalid", "true"); }
    return true;
  }

  // A problem+json answer: each error to the field its path names ("body.inspectors.0.id"),
  // else to the field its code concerns, else above the form.
  function showProblem(root, body, codeFields, fieldBox) {
    clearErrors(root);
    var errors = (body && body.errors) ? body.errors.slice() : [];
    if (body && !errors.length && codeFields[body.code]) {
      errors.push({ field: "body." + codeFields[body.code], message_zh: body.detail_zh });
    }
    var unplaced = [];
    var first = null;
    errors.forEach(function (e) {
      var path = String(e.field || "").replace(/^body\.?/, "");
      var found = fieldBox(path);
      if (found && place(found.box, found.control, e.message_zh || e.message)) {
        first = first || found.control || found.box;
      } else {
        unplaced.push(e.message_zh || e.message);
      }
    });
    if (!first) {
      showError(unplaced.join(" ") || (body && (body.detail_zh || body.title_zh)) || "提交失败，请重试");
      return;
    }
    showError("有 " + errors.length + " 处需要修改，已在对应位置标出。" + unplaced.join(" "));
    first.scrollIntoView({ block: "center" });
  }

  function send(method, url, payload) {
    return fetch(url, {
      method: method,
      headers: { "Content-Type": "application/json" },
      body: payload === undefined ? undefined : JSON.stringify(payload),
      credentials: "same-origin"
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) { return { status: r.status, body: b }; });
    });
  }

  // --- the create form -------------------------------------------------------------------------
  var form = document.getElementById("campaign-form");
  if (form) {
    var rows = document.getElementById("inspector-rows");
    var template = document.getElementById("inspector-row");
    var addRow = function () {
      var row = template.content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
      renumber();
      return row;
    };
    var renumber = function () {
      rows.querySelectorAll(".inspector-row").forEach(function (row, n) {
        row.dataset.index = String(n);
        row.querySelectorAll("[data-name]").forEach(function (c) {
          var id = "inspector-" + n + "-" + c.dataset.name;
          c.id = id;
          var box = row.querySelector("[data-error='" + c.dataset.name + "']");
          box.id = "err-" + id;
          c.setAttribute("aria-describedby", box.id);
        });
        row.querySelector(".remove-inspector").hidden = rows.children.length < 2;
      });
    };
    rows.addEventListener("click", function (ev) {
      if (ev.target.classList.contains("remove-inspector")) {
        ev.target.closest(".inspector-row").remove();
        renumber();
      }
    });
    document.getElementById("add-inspector").addEventListener("click", function () {
      addRow().querySelector("input").focus();
    });
    addRow(); addRow(); addRow();

    var weights = document.getElementById("band-weights");
    form.querySelectorAll("input[name=weighting]").forEach(function (r) {
      r.addEventListener("change", function () {
        weights.hidden = form.querySelector("input[name=weighting]:checked").value !== "risk_band";
      });
    });

    var checked = function (name) {
      return Array.prototype.map.call(form.querySelectorAll("input[name=" + name + "]:checked"), function (c) { return c.value; });
    };
    var fieldBox = function (path) {
      var m = /^inspectors\.(\d+)\.(\w+)/.exec(path);
      if (m) {
        var row = rows.children[Number(m[1])];
        if (!row) { return null; }
        return { box: row.querySelector("[data-error='" + m[2] + "']"), control: row.querySelector("[data-name='" + m[2] + "']") };
      }
      var name = path.split(".")[0];
      var control = form.querySelector("[data-field='" + name + "']");
      return { box: document.getElementById("err-" + name), control: control };
    };
    var codeFields = {
      too_few_candidates: "sample_size",
      too_many_candidates: "region",
      region_forbidden: "region",
      region_not_found: "region",
      inspectors_insufficient: "inspectors",
      duplicate_inspector: "inspectors",
      too_many_inspectors: "inspectors"
    };
    var submit = document.getElementById("submit-campaign");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var inspectors = [];
      rows.querySelectorAll(".inspector-row").forEach(function (row) {
        var v = function (n) { return row.querySelector("[data-name='" + n + "']").value.trim(); };
        inspectors.push({
          id: v("id"), name: v("name"), district: v("district"),
          exclusions: v("exclusions").split(/[\s,，]+/).filter(Boolean)
        });
      });
      var size = form.elements.sample_size.value.trim();
      var payload = {
        title: form.elements.title.value.trim(),
        region: form.elements.region.value,
        categories: checked("categories"),
        usage_areas: checked("usage_areas"),
        sample_size: /^\d+$/.test(size) ? Number(size) : size,
        weighting: form.querySelector("input[name=weighting]:checked").value,
        band_weights: {
          high: Number(form.elements.weight_high.value),
          medium: Number(form.elements.weight_medium.value),
          low: Number(form.elements.weight_low.value)
        },
        inspectors: inspectors
      };
      submit.disabled = true; submit.textContent = "提交中…";
      send("POST", "/api/v1/enforcement/campaigns", payload).then(function (res) {
        if (res.status === 201) {
          window.location.assign("/backoffice/campaigns/" + res.body.id + "?created=1");
          return;
        }
        showProblem(form, res.body, codeFields, fieldBox);
        submit.disabled = false; submit.textContent = "公布承诺值";
      }).catch(function () {
        // Nothing is written without an answer we saw; the list shows it if it was.
        showError("网络异常，请稍后重试；重试前可在任务列表确认是否已创建。");
        submit.disabled = false; submit.textContent = "公布承诺值";
      });
    });
  }

  // --- the draw ---------------------------------------------------------------------------------
  var drawBox = document.getElementById("draw-box");
  if (drawBox) {
    var start = document.getElementById("draw-start");
    var confirmBox = document.getElementById("draw-confirm");
    var yes = document.getElementById("draw-yes");
    start.addEventListener("click", function () { confirmBox.hidden = false; start.hidden = true; yes.focus(); });
    document.getElementById("draw-no").addEventListener("click", function () {
      confirmBox.hidden = true; start.hidden = false; start.focus();
    });
    yes.addEventListener("click", function () {
      yes.disabled = true; yes.textContent = "抽取中…";
      send("POST", "/api/v1/enforcement/campaigns/" + drawBox.dataset.campaign + "/draw").then(function (res) {
        // Drawn now, or by a colleague a moment ago: either way the page shows the result.
        if (res.status === 200 || (res.body && res.body.code === "campaign_already_drawn")) {
          window.location.assign(window.location.pathname);
          return;
        }
        showError((res.body && (res.body.detail_zh || res.body.title_zh)) || "抽取失败，请重试");
        yes.disabled = false; yes.textContent = "确认抽取";
      }).catch(function () {
        showError("网络异常，请刷新页面查看是否已抽取。");
        yes.disabled = false; yes.textContent = "确认抽取";
      });
    });
  }

  // --- badges -----------------------------------------------------------------------------------
  var badgeForm = document.getElementById("badge-form");
  if (badgeForm) {
    var ok = document.getElementById("form-ok");
    var badgeBox = function (path) {
      var name = path === "" || path.indexOf("path") === 0 ? "badge" : path.split(".")[0];
      return { box: document.getElementById("err-" + name), control: badgeForm.querySelector("[data-field='" + name + "']") };
    };
    badgeForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      ok.hidden = true;
      var badge = badgeForm.elements.badge.value.trim();
      var userId = badgeForm.elements.user_id.value;
      clearErrors(badgeForm);
      if (!/^[A-Za-z0-9-]{1,32}$/.test(badge)) {
        place(document.getElementById("err-badge"), badgeForm.elements.badge, "执法证号只能是 1 至 32 位字母、数字或连字符。");
        badgeForm.elements.badge.focus();
        return;
      }
      if (!userId) {
        place(document.getElementById("err-user_id"), badgeForm.elements.user_id, "请选择账号（辖区账号都已绑定时无需再绑定）。");
        return;
      }
      send("PUT", "/api/v1/enforcement/inspectors/" + encodeURIComponent(badge), { user_id: userId }).then(function (res) {
        if (res.status === 200) { window.location.reload(); return; }
        showProblem(badgeForm, res.body,
          { badge_taken: "badge", account_not_found: "user_id", region_forbidden: "user_id" }, badgeBox);
      }).catch(function () { showError("网络异常，请重试。"); });
    });
  }
})();
