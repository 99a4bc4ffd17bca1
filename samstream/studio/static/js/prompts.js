// Prompts: clicks (Shift or right button: background) and boxes for the selected object on the
// frame on screen, and clearing them. A prompt on a frame the object was tracked through is a
// correction: the server keeps it there, and the page then offers to re-track up to the next prompt.
// A prompt the server refuses because someone changed the object meanwhile (409) is never dropped:
// the page shows the newer state and offers to apply it again.

export class Prompting {
  constructor(view) {
    this.view = view;
    this.acknowledged = 0; // prompts the server stored from this page
    document.getElementById("clear-frame").addEventListener("click", () => this.clearFrame());
  }

  handlers() {
    return {
      prompt: (d) => {
        const rle = d.masks[String(d.obj_id)];
        if (rle) this.view.state.putMask(d.frame, d.obj_id, rle, "prompt", d.prompts);
        this.view.renderFrame();
      },
      clear: (d) => this.view.refreshFrame(d.frame),
    };
  }

  async target() {
    const state = this.view.state;
    if (state.selected !== null) return state.selected;
    const obj = await this.view.objects.add();
    return obj ? obj.obj_id : null;
  }

  async click([x, y], negative) {
    const objId = await this.target();
    if (objId === null) return;
    const body = { obj_id: objId, frame: this.view.frame, points: [[x, y]], labels: [negative ? 0 : 1], clear_old: false };
    await this.send(body, "click");
  }

  async box(box) {
    if (box[2] - box[0] < 2 || box[3] - box[1] < 2) return;
    const objId = await this.target();
    if (objId === null) return;
    await this.send({ obj_id: objId, frame: this.view.frame, box }, "box");
  }

  // One prompt (body: the POST prompts body without its version); `what`: "click" or "box".
  async send(body, what) {
    const view = this.view, state = view.state, { obj_id: objId, frame } = body;
    const correction = state.isTracked(frame, objId);
    const reply = await view.send("/prompts", body, {
      objId, label: `${what} on frame ${frame}`, onConflict: () => this.conflict(body, what),
    });
    if (!reply || view.state !== state) return;
    state.putMask(frame, objId, reply.masks[String(objId)], "prompt", reply.prompts);
    this.acknowledged += 1;
    view.renderFrame();
    view.review.refreshEffort();
    if (correction) view.propagation.suggest("next_prompt");
    else if (!this.hasOtherMasks(objId, frame)) view.propagation.suggest("end");
    if (reply.empty) {
      view.ui.notify(what === "box"
        ? "No mask: the box found nothing; draw it around the object."
        : "No mask: the click found nothing; try a point inside the object.");
    } else if (correction) {
      view.ui.notify(`Correction kept on frame ${frame}. Propagate to re-track ${state.label(objId)} up to its next prompt.`);
    }
  }

  hasOtherMasks(objId, frame) {
    for (const [f, m] of this.view.state.masks) if (f !== frame && m.has(objId)) return true;
    return false;
  }

  // Someone changed the object since this page last heard of it: show what they did, then offer
  // this prompt again (sent against the newer version when accepted).
  async conflict(body, what) {
    const view = this.view, state = view.state;
    try { await view.refreshObject(body.obj_id); }
    catch (e) { view.ui.showError(`Could not read ${state.label(body.obj_id)}'s newer state: ${e.message}`); }
    if (view.state !== state) return;
    const name = state.label(body.obj_id);
    view.ui.offer(`${name[0].toUpperCase()}${name.slice(1)} changed meanwhile (its newer state is shown) — apply your ${what} on frame ${body.frame} again?`, [
      { label: `Apply my ${what} again`, className: "reapply", run: () => this.reapply(body, what) },
      { label: "Discard it", className: "discard", run: () => view.ui.notify(`Your ${what} on frame ${body.frame} was discarded.`) },
    ]);
  }

  async reapply(body, what) {
    if (this.view.frame !== body.frame) await this.view.show(body.frame);
    await this.send(body, what);
  }

  async clearFrame() {
    const view = this.view, objId = view.state.selected, frame = view.frame;
    if (objId === null) return;
    const reply = await view.send("/clear", { obj_id: objId, frame }, { objId, label: `clearing frame ${frame}` });
    if (reply) view.refreshFrame(frame);
  }
}
