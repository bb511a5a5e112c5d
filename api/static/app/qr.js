// Draws a QR code on a canvas: black modules on white with a 4-module quiet zone, each module a
// whole number of device pixels (sharp at any screen density). The code itself is uqr's
// (vendor/uqr, MIT): it picks the alphanumeric mode for a ticket's base45 text.
import { encode } from "./vendor/uqr/uqr.js";

export const QUIET = 4;

export function drawQr(canvas, text, widthCss) {
  const code = encode(text, { ecc: "M", border: QUIET });
  const modules = code.size;
  const ratio = window.devicePixelRatio || 1;
  const scale = Math.max(2, Math.floor((widthCss * ratio) / modules));
  canvas.width = modules * scale;
  canvas.height = modules * scale;
  // CSSOM, not a style attribute: the CSP allows it.
  canvas.style.width = `${(modules * scale) / ratio}px`;
  canvas.style.height = `${(modules * scale) / ratio}px`;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = "#000";
  code.data.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (dark) context.fillRect(x * scale, y * scale, scale, scale);
    }),
  );
  return code;
}
