// hatake: the little script pages need. Forms marked data-confirm ask before submitting.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Links marked data-back go back in history when there is somewhere to go (the content
// security policy forbids javascript: URLs); otherwise they follow their href.
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a[data-back]");
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});
