// Small DOM helpers. Everything that comes from the API goes into the page as text nodes or
// attribute values set through the DOM, never as HTML, so nothing from a device can inject
// markup (and the strict CSP forbids inline scripts and styles anyway).

const SVG_NS = 'http://www.w3.org/2000/svg';
// Names set as attributes even though a property of the same name exists (the property would
// coerce the value, like spellcheck = "false" → true, or is read-only, like list).
const ATTRIBUTE_ONLY = new Set(['spellcheck', 'list', 'form', 'role']);

/**
 * Creates an HTML element.
 * attrs: `class`, `text` (textContent), `dataset` ({key: value}), `style` ({prop: value}, set
 * through the CSSOM, which the CSP allows), `on` ({event: handler}), DOM properties that exist
 * on the element (`value`, `checked`, `disabled`, `hidden`, `type`, …), anything else as an
 * attribute (`aria-*`, `data-*`, `role`, `for`, …). `null`/`undefined`/`false` values are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs, false);
  append(el, children);
  return el;
}

/** Creates an SVG element (attributes always set as attributes). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs, true);
  append(el, children);
  return el;
}

function applyAttrs(el, attrs, isSvg) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') {
      el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (name === 'text') {
      el.textContent = String(value);
    } else if (name === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) el.dataset[k] = String(v);
    } else if (name === 'style') {
      for (const [k, v] of Object.entries(value)) el.style.setProperty(k, String(v));
    } else if (name === 'on') {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (!isSvg && name in el && !name.includes('-') && !ATTRIBUTE_ONLY.has(name)) {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
}

/** Appends children: nodes, strings/numbers (as text), arrays (flattened); skips null/false. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces all of `el`'s children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Sets textContent only when it changed (avoids needless layout and screen-reader chatter). */
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

/** A debounced version of `fn`: runs once, `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(...args); }, ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** A labelled form field: `<label class="field"><span>label</span>control</label>`. */
export function field(label, control, hint) {
  return h('label', { class: 'field' },
    h('span', { class: 'field-label', text: label }),
    control,
    hint ? h('span', { class: 'hint', text: hint }) : null);
}

/** A card section with a heading. */
export function card(title, attrs = {}, ...children) {
  const headingId = `h-${Math.random().toString(36).slice(2, 9)}`;
  return h('section', { class: ['card', attrs.class], 'aria-labelledby': headingId, ...without(attrs, 'class') },
    h('h2', { class: 'card-title', id: headingId, text: title }),
    ...children);
}

function without(obj, key) {
  const copy = { ...obj };
  delete copy[key];
  return copy;
}
