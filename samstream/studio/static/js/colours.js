// Twenty colours chosen to stay distinguishable from each other (Kelly's contrast series without
// white and black), then repeated with a shifted hue for ids beyond twenty.
const KELLY = ["#f3c300", "#875692", "#f38400", "#a1caf1", "#be0032", "#c2b280", "#848482", "#008856",
  "#e68fac", "#0067a5", "#f99379", "#604e97", "#f6a600", "#b3446c", "#dcd300", "#882d17", "#8db600",
  "#654522", "#e25822", "#2b3d26"];

export function objectColour(obj) {
  if (obj.colour) return obj.colour;
  return KELLY[(obj.obj_id - 1) % KELLY.length];
}

export function rgbOf(hex) {
  const v = parseInt(hex.replace("#", "").slice(0, 6), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}
