// Assignment (admins, in the library): who annotates and who verifies each video, chosen among the
// enabled people whose role the server says may be assigned to that (GET /api/people's assignable).
const NOBODY = { annotator: "nobody", reviewer: "any reviewer" };

// A <select> of `key` ("annotator" or "reviewer") for a video; onPick(name or null, select) on change.
export function assignSelect(video, key, team, onPick) {
  const select = document.createElement("select");
  select.className = `assign-${key}`;
  select.setAttribute("aria-label", `${key} of ${video.name}`);
  const roles = team.assignable[key] || [];
  const choices = [["", NOBODY[key]], ...team.people.filter((p) => !p.disabled && roles.includes(p.role))
    .map((p) => [p.name, p.role === key ? p.name : `${p.name} (${p.role})`])];
  if (video[key] && !choices.some(([name]) => name === video[key])) choices.push([video[key], `${video[key]} (disabled)`]);
  for (const [value, text] of choices) {
    const option = document.createElement("option");
    option.value = value; option.textContent = text;
    select.appendChild(option);
  }
  select.value = video[key] || "";
  select.addEventListener("change", () => onPick(select.value || null, select));
  return select;
}
