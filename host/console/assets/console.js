// The console's one piece of hand-written JavaScript: the reply box's `/`
// menu of the shop's canned replies. Typing `/` and part of a name lists the
// matching replies; Enter or a click puts the chosen text in the box.
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
