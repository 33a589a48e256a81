// Measures every slide of a reveal.js deck, as laid out in the window it is open in.
// tests/test_slides.py evaluates this function (Playwright's page.evaluate). All slides are
// shown at once (display: block) so that one pass measures them all. A slide fits when nothing
// on it sticks out of its box and nothing on it scrolls; its code font is the smallest
// monospace text on it, in px as drawn (CSS px times reveal.js's scale).
() => {
  const style = document.createElement('style');
  style.textContent = '.reveal .slides section { display: block !important; }';
  document.head.appendChild(style);
  const results = [];
  for (const slide of Reveal.getSlides()) {
    const box = slide.getBoundingClientRect();
    const scale = box.height / slide.offsetHeight;
    const problems = [];
    let font = Infinity, fontAt = '';
    for (const el of slide.querySelectorAll('*')) {
      if (el.closest('aside.notes') || el.parentElement.closest('pre code')) continue;
      const classes = [...el.classList].map((c) => '.' + c).join('');
      const name = el.tagName.toLowerCase() + classes;
      const r = el.getBoundingClientRect();
      const by = Math.max(
        r.bottom - box.bottom, r.right - box.right, box.top - r.top, box.left - r.left) / scale;
      if ((r.width || r.height) && by > 1) {
        problems.push(`${name} sticks out by ${Math.round(by)} px`);
      }
      const css = getComputedStyle(el);
      if ((css.overflowY !== 'visible' && el.scrollHeight > el.clientHeight + 1)
          || (css.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1))
        problems.push(`${name} scrolls: ${el.scrollWidth}x${el.scrollHeight}`
                      + ` in ${el.clientWidth}x${el.clientHeight}`);
      const text = el.matches('pre code') ? el.textContent.trim()
        : [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
      if (text && /mono/i.test(css.fontFamily)) {
        const px = parseFloat(css.fontSize) * scale;
        if (px < font) { font = px; fontAt = name; }
      }
    }
    const {h, v} = Reveal.getIndices(slide);
    const title = slide.querySelector('h1, h2, h3');
    results.push({h, v: v || 0, id: slide.id, title: title ? title.textContent.trim() : '',
                  height: slide.scrollHeight, problems: problems.slice(0, 3), font, fontAt});
  }
  style.remove();
  return results;
}
