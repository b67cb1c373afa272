// MiniCloud console: the few things a server-rendered page cannot do.
// Every value is written with textContent (never as HTML); changing calls
// carry the page's CSRF token.
"use strict";

function csrf() {
  const main = document.getElementById("main");
  return main ? main.dataset.csrf : "";
}

// Live logs: the function's log stream, a line per event.
function followLogs(list) {
  const source = new EventSource(list.dataset.stream);
  source.onmessage = (e) => {
    let line;
    try { line = JSON.parse(e.data); } catch { return; }
    const item = document.createElement("li");
    item.className = line.stream === "stderr" ? "stderr" : "stdout";
    const at = new Date(line.time_ms).toISOString().slice(11, 23);
    item.textContent = at + "  " + line.line;
    list.appendChild(item);
    while (list.children.length > 1000) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  };
  source.addEventListener("error", (e) => {
    if (e.data) {
      const item = document.createElement("li");
      item.className = "stderr";
      item.textContent = "The stream ended: " + e.data;
      list.appendChild(item);
      source.close();
    }
  });
}

// Deploy by upload: the file is sent as the body of PUT .../functions/{name}
// through the console's API, with a progress bar.
function deployForm(form) {
  const file = document.getElementById("deploy-file");
  const drop = document.getElementById("drop");
  const bar = document.getElementById("deploy-progress");
  const status = document.getElementById("deploy-status");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) file.files = e.dataTransfer.files;
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = document.getElementById("deploy-name").value;
    if (!file.files.length) { status.textContent = "Choose a .wasm file."; return; }
    const project = encodeURIComponent(form.dataset.project);
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", "/console/api/projects/" + project + "/functions/" + encodeURIComponent(name));
    xhr.setRequestHeader("content-type", "application/wasm");
    xhr.setRequestHeader("x-csrf-token", csrf());
    bar.hidden = false;
    xhr.upload.onprogress = (p) => { if (p.lengthComputable) bar.value = (100 * p.loaded) / p.total; };
    xhr.upload.onload = () => { status.textContent = "Uploaded; compiling…"; };
    xhr.onload = () => {
      let answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch { answer = {}; }
      if (xhr.status >= 200 && xhr.status < 300) {
        status.textContent = "Deployed version " + answer.version + ".";
        window.location.href = "/console/p/" + project + "/functions/" + encodeURIComponent(name);
      } else {
        status.textContent = "Refused: " + ((answer.error && answer.error.message) || xhr.statusText);
      }
    };
    xhr.onerror = () => { status.textContent = "The upload failed."; };
    status.textContent = "Uploading…";
    xhr.send(file.files[0]);
  });
}

// Upload to a bucket: PUT of the file at the key (the folder and the
// file's name unless one is given), streamed with a progress bar.
function uploadForm(form) {
  const file = document.getElementById("upload-file");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!file.files.length) { status.textContent = "Choose a file."; return; }
    const given = document.getElementById("upload-key").value;
    const key = given || form.dataset.prefix + file.files[0].name;
    const parts = key.split("/");
    if (parts.some((p) => p === "." || p === "..")) {
      status.textContent = "A key may not hold . or .. segments.";
      return;
    }
    const path = parts.map(encodeURIComponent).join("/");
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", form.dataset.objects + path);
    xhr.setRequestHeader("content-type", file.files[0].type || "application/octet-stream");
    xhr.setRequestHeader("x-csrf-token", csrf());
    bar.hidden = false;
    xhr.upload.onprogress = (p) => { if (p.lengthComputable) bar.value = (100 * p.loaded) / p.total; };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        status.textContent = "Stored " + key + ".";
        window.location.reload();
      } else {
        let answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch { answer = {}; }
        status.textContent = "Refused: " + ((answer.error && answer.error.message) || xhr.statusText);
      }
    };
    xhr.onerror = () => { status.textContent = "The upload failed."; };
    status.textContent = "Uploading…";
    xhr.send(file.files[0]);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const logs = document.getElementById("logs");
  if (logs && logs.dataset.stream) followLogs(logs);
  const deploy = document.getElementById("deploy");
  if (deploy) deployForm(deploy);
  const upload = document.getElementById("upload");
  if (upload) uploadForm(upload);
});
