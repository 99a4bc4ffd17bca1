// The model (admins, in the library): the one in use (GET /api/health), and switching to another
// registry name or checkpoint path (POST /api/model; every inference worker loads it).
import { api } from "./api.js";

const $ = (id) => document.getElementById(id);

export class ModelPanel {
  constructor(ui) {
    this.ui = ui;
    $("model-form").addEventListener("submit", (e) => { e.preventDefault(); this.switch(); });
  }

  async show() {
    try { $("model-current").textContent = (await api("/api/health")).model; }
    catch (e) { $("model-current").textContent = "unknown"; }
  }

  async switch() {
    const name = $("model-name").value.trim();
    $("model-switch").disabled = true;
    $("model-status").textContent = `loading ${name}…`;
    try {
      const reply = await api("/api/model", { method: "POST", body: { model: name } });
      $("model-status").textContent = `switched to ${reply.model}`;
      $("model-current").textContent = reply.model;
    } catch (e) {
      $("model-status").textContent = "";
      this.ui.showError(`Could not switch the model to ${name}: ${e.message}`);
    } finally { $("model-switch").disabled = false; }
  }
}
