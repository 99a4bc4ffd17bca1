// Small helpers that build the page's repeated elements.

// A button that does not also trigger a click on the row it sits in.
export function button(text, className, title, onClick) {
  const b = document.createElement("button");
  b.textContent = text; b.className = className; b.title = title;
  b.addEventListener("click", (e) => { e.stopPropagation(); onClick(); });
  return b;
}
