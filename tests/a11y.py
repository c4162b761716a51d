"""Accessibility checks for the browser tests: axe-core's rules, tap-target sizes and focus rings.

axe-core is vendored in static/vendor/ and injected by the tests only; pages never load it.
The pages' Content-Security-Policy forbids inline scripts, so the browser context that runs
these checks is opened with Playwright's `bypass_csp=True` (see `phone_context`).
Every axe run writes its full result to test-output/a11y/<name>.json.
"""

import json
from pathlib import Path

from .live import ROOT

AXE = ROOT / "static" / "vendor" / "axe.min.js"
RESULTS = ROOT / "test-output" / "a11y"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING_IMPACTS = {"serious", "critical"}
PHONE = {"width": 390, "height": 844}
MIN_TARGET_PX = 44
MIN_FOCUS_CONTRAST = 3.0


def phone_context(browser, **options):
    """A phone-sized context in which axe can be injected despite the page's CSP."""
    return browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True, **options)


# Colours are only final once the short transitions (a pressed button, a card sliding in)
# have run; axe would otherwise measure a half-faded colour. Endless animations (a pulsing
# dot) and long ones (an offer's countdown) are not waited for.
SETTLE_JS = """
async () => {
  const short = () => document.getAnimations().filter((a) => {
    const end = a.effect && a.effect.getComputedTiming().endTime;
    return a.playState === 'running' && Number.isFinite(end) && end <= 2000;
  });
  const started = performance.now();
  while (short().length && performance.now() - started < 3000) {
    const done = Promise.all(short().map((a) => a.finished.catch(() => null)));
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 500))]);
  }
}
"""


def axe_run(page) -> dict:
    page.evaluate(SETTLE_JS)
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        AXE_TAGS,
    )


def serious_violations(result: dict) -> list[str]:
    lines = []
    for violation in result["violations"]:
        if violation["impact"] not in FAILING_IMPACTS:
            continue
        targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"])
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} -> {targets}")
    return lines


def assert_accessible(page, name: str) -> dict:
    """Run axe-core (WCAG 2.0/2.1 A and AA plus best practice) on the page as it is now.

    The full result goes to test-output/a11y/<name>.json; any serious or critical
    violation fails the test with its rule id, help text and target selectors."""
    result = axe_run(page)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    problems = serious_violations(result)
    assert not problems, f"{name} ({page.url}) has accessibility violations:\n" + "\n".join(problems)
    return result


# Every visible thing one can tap. A checkbox or radio is measured together with its label,
# since tapping the label works too. A link is exempt when it sits inside running text
# (WCAG 2.5.8's inline exception): the block around it holds words of its own.
SMALL_TARGETS_JS = """
(min) => {
  const selector = 'a[href], button, [role=button], input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"])';
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && s.visibility !== 'hidden' && !el.closest('[hidden], [inert]');
  };
  const ownWords = (block) => {
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    let text = '';
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (parent.closest('a, button, [role=button]')) continue;
      const r = parent.getBoundingClientRect();
      if (r.width <= 1 || r.height <= 1) continue;  // visually hidden
      text += node.textContent;
    }
    return /\\p{L}/u.test(text);
  };
  const inRunningText = (el) => {
    if (el.tagName !== 'A' || el.getAttribute('role') === 'button') return false;
    let block = el.parentElement;
    while (block && getComputedStyle(block).display.startsWith('inline')) block = block.parentElement;
    return block ? ownWords(block) : false;
  };
  const describe = (el) => {
    const id = el.getAttribute('data-testid');
    const label = (el.getAttribute('aria-label') || el.textContent || el.value || el.name || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    return el.tagName.toLowerCase() + (id ? `[data-testid=${id}]` : '') + (el.name ? `[name=${el.name}]` : '') + ` "${label}"`;
  };
  const small = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!visible(el) || inRunningText(el)) continue;
    const boxes = [el.getBoundingClientRect()];
    if (el.labels && (el.type === 'checkbox' || el.type === 'radio')) {
      for (const label of el.labels) if (visible(label)) boxes.push(label.getBoundingClientRect());
    }
    const width = Math.max(...boxes.map((b) => b.width));
    const height = Math.max(...boxes.map((b) => b.height));
    if (width < min - 0.5 || height < min - 0.5) {
      small.push(`${describe(el)} is ${Math.round(width)}x${Math.round(height)}`);
    }
  }
  return small;
}
"""


def small_tap_targets(page) -> list[str]:
    return page.evaluate(SMALL_TARGETS_JS, MIN_TARGET_PX)


# The focused element's ring: an outline (never removed), at least 2px, whose colour stands
# out 3:1 from the first opaque background behind the element.
FOCUS_RING_JS = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body || el.id === 'a11y-focus-start') return null;
  const parse = (c) => { const m = c.match(/[\\d.]+/g) || [0, 0, 0, 0]; return {r: +m[0], g: +m[1], b: +m[2], a: m.length > 3 ? +m[3] : 1}; };
  const lum = ({r, g, b}) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let back = {r: 255, g: 255, b: 255, a: 1};
  for (let node = el.parentElement; node; node = node.parentElement) {
    const c = parse(getComputedStyle(node).backgroundColor);
    if (c.a >= 0.99) { back = c; break; }
  }
  const s = getComputedStyle(el);
  const own = parse(s.outlineColor);  // a see-through ring is seen mixed with what is behind it
  const ring = {r: own.a * own.r + (1 - own.a) * back.r, g: own.a * own.g + (1 - own.a) * back.g, b: own.a * own.b + (1 - own.a) * back.b};
  const [hi, lo] = [lum(ring), lum(back)].sort((a, b) => b - a);
  const id = el.getAttribute('data-testid');
  const again = el.hasAttribute('data-a11y-focused');
  el.setAttribute('data-a11y-focused', '');
  return {
    again,
    element: el.tagName.toLowerCase() + (id ? `[data-testid=${id}]` : '') + (el.name ? `[name=${el.name}]` : ''),
    focusVisible: el.matches(':focus-visible'),
    style: s.outlineStyle,
    width: parseFloat(s.outlineWidth),
    contrast: (hi + 0.05) / (lo + 0.05),
  };
}
"""


def focus_ring_problems(page, presses: int = 120) -> list[str]:
    """Tab through the page from the top; every element that takes focus must show a ring."""
    # Tab continues from the last focused or clicked element; a focusable marker at the top
    # of the body makes the walk start at the page's first element.
    page.evaluate(
        """() => {
          document.querySelectorAll('[data-a11y-focused]').forEach((el) => el.removeAttribute('data-a11y-focused'));
          const start = document.createElement('span');
          start.tabIndex = -1;
          start.id = 'a11y-focus-start';
          document.body.prepend(start);
          start.focus();
        }"""
    )
    problems = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        ring = page.evaluate(FOCUS_RING_JS)
        if ring is None or ring["again"]:
            break
        key = ring["element"]
        if not ring["focusVisible"] or ring["style"] == "none" or ring["width"] < 2:
            problems.append(f"{key}: no visible focus outline ({ring['style']} {ring['width']}px)")
        elif ring["contrast"] < MIN_FOCUS_CONTRAST:
            problems.append(f"{key}: focus outline contrast {ring['contrast']:.2f}:1")
    page.evaluate("() => document.getElementById('a11y-focus-start').remove()")
    return sorted(set(problems))


def write_json(name: str, data) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=1))
    return path
