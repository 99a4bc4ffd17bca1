// People (admins, in the library): everyone with their role and state, a new person (their token
// is shown once, here, and never again), a new token for someone (the old one stops working at
// once), disabling someone (their work and history stay).
import { api } from "./api.js";
import { button } from "./dom.js";

const $ = (id) => document.getElementById(id);

export class PeoplePanel {
  // changed(): the library reads people and videos again.
  constructor(ui, me, changed) {
    this.ui = ui;
    this.me = me;
    this.changed = changed;
    $("person-add").addEventListener("submit", (e) => { e.preventDefault(); this.add(); });
  }

  render(team) {
    const rows = $("people-rows");
    rows.replaceChildren();
    for (const p of team.people) {
      const tr = document.createElement("tr");
      tr.dataset.person = p.name;
      if (p.disabled) tr.className = "disabled";
      for (const text of [p.name, p.role, p.disabled ? "disabled" : "enabled"]) {
        const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
      }
      const td = document.createElement("td");
      if (!p.disabled) td.append(button("New token", "new-token", "a new token; the old one stops working at once", () => this.newToken(p.name)));
      if (!p.disabled && p.name !== this.me.name) { // another admin (or the command line) disables you
        td.append(" ", button("Disable", "disable", "refuse their token; their work and history stay", () => this.disable(p.name)));
      }
      tr.appendChild(td);
      rows.appendChild(tr);
    }
  }

  async add() {
    const name = $("person-name").value.trim(), role = $("person-role").value;
    try {
      const reply = await api("/api/people", { method: "POST", body: { name, role } });
      $("person-name").value = "";
      this.showToken(reply);
      await this.changed();
    } catch (e) { this.ui.showError(`Could not add ${name || "the person"}: ${e.message}`); }
  }

  async newToken(name) {
    if (!window.confirm(`A new token for ${name}? Their current token stops working at once.`)) return;
    try { this.showToken(await api(`/api/people/${encodeURIComponent(name)}/token`, { method: "POST" })); }
    catch (e) { this.ui.showError(`Could not make a new token for ${name}: ${e.message}`); }
  }

  async disable(name) {
    if (!window.confirm(`Disable ${name}? Their token stops working; their work and history stay.`)) return;
    try {
      await api(`/api/people/${encodeURIComponent(name)}/disable`, { method: "POST" });
      await this.changed();
    } catch (e) { this.ui.showError(`Could not disable ${name}: ${e.message}`); }
  }

  // The token is in the reply only: shown once, with the address that signs the person in.
  showToken({ person, token }) {
    const el = $("people-token"), code = document.createElement("code"), link = document.createElement("a");
    code.textContent = token;
    link.href = link.textContent = `${location.origin}/?token=${token}`;
    el.replaceChildren(`Token of ${person.name} (${person.role}), shown only now: `, code, " — they open ", link);
    el.dataset.person = person.name;
    el.hidden = false;
  }
}
