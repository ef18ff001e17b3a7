// Progressive enhancement only (every form works without it): a filter box above long
// multi-selects, e.g. the Annex A controls of a risk.
for (const box of document.querySelectorAll("input.filter[data-filters]")) {
  const select = document.getElementById(box.dataset.filters);
  if (!select) continue;
  box.hidden = false;
  box.addEventListener("input", () => {
    const wanted = box.value.trim().toLowerCase();
    for (const option of select.options) {
      option.hidden = wanted !== "" && !option.textContent.toLowerCase().includes(wanted) && !option.selected;
    }
  });
}
