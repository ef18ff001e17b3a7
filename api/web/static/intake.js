// Progressive enhancement: refresh the preview as answers change (the button works without it).
const form = document.getElementById("intake");
form.addEventListener("change", async () => {
  const response = await fetch("/use-cases/preview", {method: "POST", body: new FormData(form)});
  if (response.ok) document.getElementById("preview").outerHTML = await response.text();
});
