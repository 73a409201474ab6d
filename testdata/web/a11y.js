// Accessibility checks of a rendered page, evaluated by chromedp in the browser tests: inputs
// without a label, text below the WCAG AA contrast ratio against its effective background,
// touch targets under 44x44 CSS px (a checkbox's or radio's target is its label), horizontal
// overflow. Returns the list of problems.
(() => {
  const probs = [];
  const shown = el => { const r = el.getBoundingClientRect(); const cs = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none'; };
  document.querySelectorAll('input:not([type=hidden]), select, textarea').forEach(el => {
    if (!shown(el)) return;
    const labelled = (el.labels && [...el.labels].some(l => l.textContent.trim() !== '')) ||
      (el.getAttribute('aria-label') || '').trim() !== '' || el.getAttribute('aria-labelledby');
    if (!labelled) probs.push('no label: ' + (el.id || el.name));
  });
  document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, canvas').forEach(el => {
    if (!shown(el) || el.classList.contains('skip')) return;
    let t = el;
    if ((el.type === 'checkbox' || el.type === 'radio') && el.labels && el.labels[0]) t = el.labels[0];
    const r = t.getBoundingClientRect();
    if (r.width < 44 || r.height < 44) probs.push('small target: ' + (el.id || el.name || el.textContent.trim().slice(0, 40)) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
  });
  const parse = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(',').map(parseFloat); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const bgOf = el => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0.99) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (w.nextNode()) {
    const n = w.currentNode; const el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el) || !shown(el) || el.closest('.skip')) continue;
    seen.add(el);
    const cs = getComputedStyle(el); const fg = parse(cs.color); const bg = bgOf(el);
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(cs.fontSize); const bold = parseInt(cs.fontWeight, 10) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) probs.push('contrast ' + ratio.toFixed(2) + ': ' + n.textContent.trim().slice(0, 40));
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) probs.push('horizontal scroll: ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth);
  return probs;
})()
