// Optional: a "Copy codes" button for the recovery codes. Without JavaScript the button stays
// hidden and the codes can be selected or downloaded.
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("copy-codes");
  if (!button || !navigator.clipboard) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    var list = document.getElementById(button.getAttribute("data-copy-target"));
    var codes = Array.prototype.map.call(list.querySelectorAll("code"), function (c) { return c.textContent; });
    navigator.clipboard.writeText(codes.join("\n"));
  });
});
