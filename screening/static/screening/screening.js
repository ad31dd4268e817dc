/* cxrscreen screening pages: upload form (checks, drag and drop, progress) and heatmap controls.
 * Loaded as a static file (the CSP forbids inline script); every feature degrades to plain HTML. */
(function () {
  "use strict";

  var ACCEPTED_TYPES = ["image/png", "image/jpeg", "application/dicom"];

  /* htmx: swap 400/422 answers too (they carry the form with its errors). */
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      window.htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "(400|422)", swap: true, error: false },
        { code: "[45]..", swap: false, error: true },
      ];
    }
  });

  function formatBytes(n) {
    if (n >= 1024 * 1024) return (n / (1024 * 1024)).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " kB";
    return n + " B";
  }

  function extensionOf(name) {
    var dot = name.lastIndexOf(".");
    return dot > 0 ? name.slice(dot).toLowerCase() : "";
  }

  /* Resolve to "png", "jpeg", "dicom" or "" from the file's first bytes. */
  function sniff(file) {
    if (!file.slice || !file.slice(0, 1).arrayBuffer) return Promise.resolve("unknown");
    return file.slice(0, 132).arrayBuffer().then(function (buffer) {
      var b = new Uint8Array(buffer);
      if (b.length >= 4 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "png";
      if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
      if (b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d) return "dicom";
      return "";
    }, function () { return "unknown"; });
  }

  /* One key per content of the form: sending the same files again after a lost answer (a 503
     "may have been saved") gets the stored study back; changing them makes a new study. */
  function newIdempotencyKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function UploadForm(form) {
    this.form = form;
    this.input = form.querySelector("input[type=file]");
    this.list = form.querySelector("#file-list");
    this.errors = form.querySelector("#form-errors");
    this.progress = form.querySelector("#upload-progress");
    this.bar = form.querySelector("#upload-bar");
    this.percent = form.querySelector("#upload-percent");
    this.button = form.querySelector("button[type=submit]");
    this.zone = form.querySelector("[data-dropzone]");
    this.maxBytes = parseInt(form.dataset.maxBytes, 10) || Infinity;
    this.maxFiles = parseInt(form.dataset.maxFiles, 10) || Infinity;
    this.extensions = (form.dataset.extensions || "").split(/\s+/).filter(Boolean);
    this.files = [];
    this.busy = false;
    this.key = newIdempotencyKey();
    form.noValidate = true;
    this.bind();
  }

  UploadForm.prototype.bind = function () {
    var self = this;
    this.input.addEventListener("change", function () {
      self.add(self.input.files);
      self.input.value = "";
    });
    ["dragenter", "dragover"].forEach(function (name) {
      self.zone.addEventListener(name, function (event) {
        event.preventDefault();
        self.zone.classList.add("dragging");
      });
    });
    ["dragleave", "dragend"].forEach(function (name) {
      self.zone.addEventListener(name, function () { self.zone.classList.remove("dragging"); });
    });
    this.zone.addEventListener("drop", function (event) {
      event.preventDefault();
      self.zone.classList.remove("dragging");
      if (event.dataTransfer && event.dataTransfer.files) self.add(event.dataTransfer.files);
    });
    this.list.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-remove]");
      if (!button) return;
      self.files.splice(parseInt(button.dataset.remove, 10), 1);
      self.render();
      self.input.focus();
    });
    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submit();
    });
    var reference = this.form.querySelector("input[name=reference]");
    if (reference) reference.addEventListener("input", function () { self.key = newIdempotencyKey(); });
  };

  UploadForm.prototype.add = function (fileList) {
    var self = this;
    Array.prototype.forEach.call(fileList, function (file) {
      var duplicate = self.files.some(function (f) {
        return f.name === file.name && f.size === file.size && f.lastModified === file.lastModified;
      });
      if (!duplicate) self.files.push(file);
    });
    this.showErrors([]);
    this.render();
  };

  UploadForm.prototype.render = function () {
    var self = this;
    this.key = newIdempotencyKey();
    this.list.textContent = "";
    this.list.hidden = this.files.length === 0;
    this.files.forEach(function (file, index) {
      var item = document.createElement("li");
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = file.name;
      var size = document.createElement("span");
      size.className = "muted";
      size.textContent = formatBytes(file.size);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link remove";
      remove.dataset.remove = String(index);
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove " + file.name);
      item.append(name, " ", size, " ", remove);
      self.list.appendChild(item);
    });
  };

  /* Resolve to a list of user-facing problems, each naming its file. */
  UploadForm.prototype.check = function () {
    var self = this;
    var problems = [];
    if (this.files.length === 0) problems.push("Choose at least one image file.");
    if (this.files.length > this.maxFiles) {
      problems.push("Too many files: " + this.files.length + " chosen, at most " + this.maxFiles + " per study.");
    }
    return Promise.all(this.files.map(function (file) {
      var ext = extensionOf(file.name);
      if (file.size === 0) return file.name + ": the file is empty.";
      if (file.size > self.maxBytes) {
        return file.name + ": " + formatBytes(file.size) + " is over the " + formatBytes(self.maxBytes) + " limit.";
      }
      var knownExt = ext === "" || self.extensions.indexOf(ext) >= 0;
      var knownType = file.type === "" || ACCEPTED_TYPES.indexOf(file.type) >= 0;
      if (!knownExt && !knownType) {
        return file.name + ": not a PNG, JPEG or DICOM file (" + (file.type || ext) + ").";
      }
      return sniff(file).then(function (kind) {
        if (kind !== "") return null;
        if (ext === ".dcm" || ext === ".dicom") return null; /* DICOM without preamble: server decides */
        return file.name + ": the content is not a PNG, JPEG or DICOM image.";
      });
    })).then(function (perFile) {
      return problems.concat(perFile.filter(Boolean));
    });
  };

  UploadForm.prototype.showErrors = function (messages, heading) {
    this.errors.textContent = "";
    this.errors.hidden = messages.length === 0;
    if (!messages.length) return;
    var title = document.createElement("p");
    var strong = document.createElement("strong");
    strong.textContent = heading || "The study was not submitted.";
    title.appendChild(strong);
    var list = document.createElement("ul");
    messages.forEach(function (message) {
      var item = document.createElement("li");
      item.textContent = message;
      list.appendChild(item);
    });
    this.errors.append(title, list);
    this.errors.setAttribute("tabindex", "-1");
    this.errors.focus();
  };

  UploadForm.prototype.setBusy = function (busy) {
    this.busy = busy;
    this.button.disabled = busy;
    this.button.textContent = busy ? "Uploading…" : "Submit study";
    this.form.setAttribute("aria-busy", busy ? "true" : "false");
  };

  UploadForm.prototype.setProgress = function (fraction) {
    var pct = Math.round(fraction * 100);
    this.progress.hidden = false;
    this.bar.value = pct;
    this.percent.textContent = pct + "%";
  };

  UploadForm.prototype.submit = function () {
    var self = this;
    if (this.busy) return;
    this.check().then(function (problems) {
      if (problems.length) {
        self.showErrors(problems);
        return;
      }
      self.send();
    });
  };

  UploadForm.prototype.send = function () {
    var self = this;
    var data = new FormData();
    var token = this.form.querySelector("input[name=csrfmiddlewaretoken]");
    data.append("csrfmiddlewaretoken", token ? token.value : "");
    data.append("reference", this.form.querySelector("input[name=reference]").value);
    this.files.forEach(function (file) { data.append("files", file, file.name); });

    var xhr = new XMLHttpRequest();
    xhr.open("POST", this.form.action);
    xhr.setRequestHeader("Accept", "application/json");
    if (token) xhr.setRequestHeader("X-CSRFToken", token.value);
    xhr.setRequestHeader("Idempotency-Key", this.key);
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) self.setProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.redirect) {
        self.setProgress(1);
        self.percent.textContent = "done, opening the study…";
        window.location.assign(body.redirect);
        return;
      }
      self.setBusy(false);
      self.progress.hidden = true;
      if (body && body.errors && body.errors.length) {
        self.showErrors(body.errors);
      } else if (body && body.detail) {
        var unsure = body.code === "save_unconfirmed";
        self.showErrors([body.detail], unsure ? "The study may have been submitted." : null);
      } else if (xhr.status === 413) {
        self.showErrors(["The upload is too large for the server."]);
      } else {
        self.showErrors(["The upload failed (HTTP " + xhr.status + "). Please try again."]);
      }
    });
    xhr.addEventListener("error", function () {
      self.setBusy(false);
      self.progress.hidden = true;
      self.showErrors(["The upload failed: the server could not be reached."]);
    });
    this.setBusy(true);
    this.setProgress(0);
    xhr.send(data);
  };

  /* Heatmap opacity: one delegated listener, so cards swapped in by htmx work too. */
  document.addEventListener("input", function (event) {
    var slider = event.target.closest && event.target.closest("[data-heat-opacity]");
    if (!slider) return;
    var viewer = slider.closest("[data-viewer]");
    if (viewer) viewer.style.setProperty("--heat-opacity", String(slider.value / 100));
    slider.setAttribute("aria-valuetext", slider.value + "%");
  });
  document.addEventListener("change", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-heat-toggle]");
    if (!toggle) return;
    var viewer = toggle.closest("[data-viewer]");
    if (!viewer) return;
    viewer.classList.toggle("heat-off", !toggle.checked);
    var slider = viewer.querySelector("[data-heat-opacity]");
    if (slider) slider.disabled = !toggle.checked;
  });

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("study-form");
    if (form && window.FormData && window.XMLHttpRequest) new UploadForm(form);
  });
})();
