// The object list: add, rename, set the category, hide/show, delete, select.
import { objectColour } from "./colours.js";
import { button } from "./dom.js";

const $ = (id) => document.getElementById(id);

export class ObjectList {
  constructor(view) {
    this.view = view;
    $("add-object").addEventListener("click", () => this.add());
  }

  handlers() {
    const changed = (d) => { this.view.state.putObject(d.object); this.view.renderAll(); };
    return {
      object_created: changed, object_updated: changed, review: changed,
      object_deleted: (d) => { this.view.state.dropObject(d.obj_id); this.view.renderAll(); },
    };
  }

  render() {
    const state = this.view.state, list = $("objects");
    list.replaceChildren();
    let n = 0;
    for (const obj of state.objects.values()) {
      n += 1;
      list.appendChild(this.row(obj, n, state));
    }
    this.view.review.render();
  }

  row(obj, n, state) {
    const id = obj.obj_id, hidden = state.hidden.has(id);
    const li = document.createElement("li");
    li.dataset.objId = id;
    li.className = (id === state.selected ? "selected " : "") + (hidden ? "hidden-obj" : "");
    const dot = document.createElement("span"); dot.className = "dot"; dot.style.background = objectColour(obj);
    dot.title = `object ${id} (key ${n})`;
    const name = this.field("name", obj.name, `object ${id}: name`, (v) => this.update(id, { name: v }));
    const cat = this.field("category", obj.category || "", "category", (v) => this.update(id, { category: v }));
    cat.setAttribute("list", "categories");
    const hide = button(hidden ? "show" : "hide", "hide", "hide / show (h)", () => this.toggleHidden(id));
    const del = button("✕", "delete", "delete object", () => this.remove(id));
    li.append(dot, name, cat, hide, del);
    li.addEventListener("click", () => this.view.select(id));
    return li;
  }

  field(className, value, title, onChange) {
    const input = document.createElement("input");
    input.className = className; input.value = value; input.title = title; input.placeholder = className;
    input.addEventListener("change", () => onChange(input.value));
    return input;
  }

  async add() {
    const reply = await this.view.send("/objects", {}, { label: "adding an object" });
    if (!reply) return null;
    this.view.state.putObject(reply.object);
    this.view.state.selected = reply.object.obj_id;
    this.view.renderAll();
    return reply.object;
  }

  async update(objId, fields) {
    const reply = await this.view.send(`/objects/${objId}`, fields, { method: "PATCH", objId, label: "saving the object" });
    if (reply) { this.view.state.putObject(reply.object); this.view.renderAll(); }
  }

  async remove(objId) {
    const state = this.view.state;
    const reply = await this.view.send(`/objects/${objId}?version=${state.objectVersion(objId)}`, undefined,
      { method: "DELETE", label: `deleting ${state.label(objId)}` });
    if (reply) { state.dropObject(objId); this.view.renderAll(); }
  }

  toggleHidden(objId) {
    const hidden = this.view.state.hidden;
    if (hidden.has(objId)) hidden.delete(objId); else hidden.add(objId);
    this.view.renderAll();
  }
}
