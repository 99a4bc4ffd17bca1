// The keyboard shortcuts of the annotation view (the help overlay, opened with ?, lists them).
// Returns true when the key was one of them.
export function shortcut(view, e) {
  const k = e.key, ctrl = e.ctrlKey || e.metaKey, state = view.state;
  if (ctrl && (k === "z" || k === "Z")) { view.history.step(!e.shiftKey); return true; }
  if (ctrl && k === "y") { view.history.step(false); return true; }
  if (ctrl) return false;
  const actions = {
    ArrowLeft: () => view.player.step(e.shiftKey ? -10 : -1),
    ArrowRight: () => view.player.step(e.shiftKey ? 10 : 1),
    " ": () => view.player.play(),
    n: () => view.objects.add(),
    h: () => { if (state.selected !== null) view.objects.toggleHidden(state.selected); },
    f: () => view.propagation.request("forward"),
    b: () => view.propagation.request("backward"),
    a: () => view.propagation.request("both"),
    Delete: () => view.prompts.clearFrame(),
    Backspace: () => view.prompts.clearFrame(),
    e: () => view.masklets.segmentEverything(),
    m: () => view.masklets.run(),
    0: () => view.canvas.resetView(),
    A: () => view.review.review("accepted"),
    F: () => view.review.review("needs_fix"),
    R: () => view.review.review("rejected"),
  };
  if (k === "Escape") {
    if (!view.propagation.running) return false;
    view.propagation.cancel();
    return true;
  }
  if (/^[1-9]$/.test(k)) {
    const id = [...state.objects.keys()][Number(k) - 1];
    if (id !== undefined) view.select(id);
    return true;
  }
  if (!Object.hasOwn(actions, k)) return false;
  actions[k]();
  return true;
}
