// response_mode=form_post: submit the form back to the application at once. Without
// JavaScript the page shows a Continue button instead.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("form-post");
  if (form) { form.submit(); }
});
