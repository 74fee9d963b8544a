// The console's one piece of hand-written JavaScript: the reply box's `/`
// menu of the shop's canned replies (typing `/` and part of a name lists the
// matching replies; Enter or a click puts the chosen text in the box), and
// the clocks: every second the reply timers count up and turn amber and red
// at their platform's thresholds, and the reply window counts down. Times
// are the server's (the page says what its clock read).
(function () {
  function setup() {
    var box = document.getElementById("reply-text");
    var menu = document.getElementById("canned-menu");
    if (!box || !menu || box.dataset.cannedReady) return;
    box.dataset.cannedReady = "1";
    var replies = [];
    try { replies = JSON.parse(box.dataset.canned || "[]"); } catch (e) { replies = []; }
    var shown = [];
    var chosen = 0;
    function close() { menu.hidden = true; shown = []; }
    function pick(reply) { box.value = reply.text; close(); box.focus(); }
    function render() {
      menu.innerHTML = "";
      shown.forEach(function (reply, i) {
        var item = document.createElement("div");
        item.className = i === chosen ? "on" : "";
        item.dataset.name = reply.name;
        item.textContent = "/" + reply.name + "  " + reply.text;
        item.addEventListener("mousedown", function (event) { event.preventDefault(); pick(reply); });
        menu.appendChild(item);
      });
      menu.hidden = shown.length === 0;
    }
    box.addEventListener("input", function () {
      var value = box.value;
      if (value.charAt(0) !== "/") { close(); return; }
      var typed = value.slice(1).trim();
      shown = replies.filter(function (reply) {
        return reply.name.indexOf(typed) !== -1 || reply.text.indexOf(typed) !== -1;
      });
      chosen = 0;
      render();
    });
    box.addEventListener("keydown", function (event) {
      if (menu.hidden || shown.length === 0) return;
      if (event.key === "ArrowDown") { chosen = (chosen + 1) % shown.length; render(); event.preventDefault(); }
      else if (event.key === "ArrowUp") { chosen = (chosen + shown.length - 1) % shown.length; render(); event.preventDefault(); }
      else if (event.key === "Enter") { pick(shown[chosen]); event.preventDefault(); }
      else if (event.key === "Escape") { close(); }
    });
  }
  document.addEventListener("DOMContentLoaded", setup);
  document.addEventListener("htmx:afterSwap", setup);
})();

(function () {
  var offset = null;
  function clock(secs) {
    secs = Math.max(0, Math.floor(secs));
    if (secs >= 3600) return Math.floor(secs / 3600) + "小时" + Math.floor((secs % 3600) / 60) + "分";
    if (secs >= 60) return Math.floor(secs / 60) + "分" + (secs % 60) + "秒";
    return secs + "秒";
  }
  function tick() {
    if (offset === null) {
      var panes = document.querySelector("[data-server-now]");
      if (!panes) return;
      offset = Number(panes.dataset.serverNow) - Date.now();
    }
    var now = Date.now() + offset;
    document.querySelectorAll(".timer[data-since-ms]").forEach(function (timer) {
      var secs = (now - Number(timer.dataset.sinceMs)) / 1000;
      var level = secs >= Number(timer.dataset.alert) ? "t-alert" : secs >= Number(timer.dataset.warn) ? "t-warn" : "t-ok";
      timer.classList.remove("t-ok", "t-warn", "t-alert");
      timer.classList.add(level);
      var shown = timer.querySelector(".clock");
      if (shown) shown.textContent = clock(secs);
    });
    document.querySelectorAll(".countdown[data-until-ms]").forEach(function (countdown) {
      var shown = countdown.querySelector(".clock");
      if (shown) shown.textContent = clock((Number(countdown.dataset.untilMs) - now) / 1000);
    });
  }
  setInterval(tick, 1000);
})();
