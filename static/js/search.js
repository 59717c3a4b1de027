// Title suggestions (also from pinyin and initials) for the search box, via the suggest API.
(function () {
  const input = document.querySelector("input[data-suggest]");
  if (!input) return;
  const list = document.getElementById(input.getAttribute("list"));
  let timer = null;
  let last = "";
  input.addEventListener("input", function () {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q || q === last) return;
    timer = setTimeout(async function () {
      last = q;
      try {
        const response = await fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q));
        if (!response.ok) return;
        const data = await response.json();
        list.replaceChildren(...data.suggestions.map(function (s) {
          const option = document.createElement("option");
          option.value = s.title;
          return option;
        }));
      } catch (e) {
        // Suggestions are a convenience; the search itself still works.
      }
    }, 150);
  });
})();
