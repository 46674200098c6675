// Behaviour shared by every page, kept out of the HTML so the Content-Security-Policy needs no inline handlers.
document.addEventListener("click", function (event) {
  // 「返回上一页」: back in the history when there is one; otherwise the link's own address (the home page).
  var link = event.target.closest ? event.target.closest("[data-history-back]") : null;
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});
