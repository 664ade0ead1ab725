// Building the page's nodes: every value from the API goes in as text, never as HTML.

export const $ = (id) => document.getElementById(id);

export function element(tag, { className, text, attrs } = {}, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function lost(node) {
  return !node || node === document.body || !node.isConnected || !node.checkVisibility();
}

// Re-render a part of the page without dropping the keyboard focus on the page's body: when the
// focus was inside `container`, it goes back to the control with the same data-focus-key, or,
// when that control is gone (a hold released, a selection emptied), to `fallback()`.
export function keepingFocus(container, render, fallback) {
  const active = document.activeElement;
  const inside = !lost(active) && container.contains(active);
  const key = inside ? active.dataset.focusKey : undefined;
  render();
  if (!inside || !lost(document.activeElement)) return;
  const again = key ? container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`) : null;
  (lost(again) ? fallback() : again)?.focus();
}

// A button that cannot be used just now but keeps the focus (a disabled button drops it on the
// page's body): aria-disabled, and its click handler checks `usable()`.
export function setUsable(button, usable) {
  if (usable) button.removeAttribute("aria-disabled");
  else button.setAttribute("aria-disabled", "true");
}

export function usable(button) {
  return button.getAttribute("aria-disabled") !== "true";
}
