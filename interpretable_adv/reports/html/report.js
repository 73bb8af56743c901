// The example browser of `iadv report` (interpretable_adv/reports/html_report.py). Reads the page's JSON
// (interpretable_adv/reports/review_browser.py: words as indices into data.words, one colour scale) and draws
// the chosen review, one row per method. Every text from the data is inserted as text, never as markup.
(function () {
  "use strict";
  var node = document.getElementById("report-data");
  var data = node ? JSON.parse(node.textContent) : null;
  if (!data || !document.getElementById("review-list")) { return; }

  var words = data.words;
  var titles = {};
  data.rows.concat(data.attack_rows).forEach(function (r) { titles[r.name] = r.title; });
  var state = { seed: 0, method: "", label: "", variant: "direction", flipped: false, sort: "index",
                colour: data.leanings ? "lean" : "norm", scale: "shared", position: 0, list: [] };
  var HUES = { norm: [217, 72, 1], positive: [33, 102, 172], negative: [178, 24, 43], neutral: [110, 110, 110] };
  var LEAN = 0.1;   // |lean| below this: a word both classes use alike

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function option(select, value, text) {
    var o = el("option", null, text);
    o.value = value;
    select.appendChild(o);
  }
  function labelName(y) { return data.labels[y] !== undefined ? data.labels[y] : String(y); }
  function fmt(x, digits) { return x === null || x === undefined ? "-" : Number(x).toFixed(digits); }
  function signed(x) { return (x >= 0 ? "+" : "") + x.toFixed(1); }

  // What the list and the filters read of a review, for the shown rows and the chosen variant.
  function shownRows(review) {
    return data.rows.map(function (r) { return r.name; }).filter(function (name) {
      return review.rows[name] && (!state.method || name === state.method);
    });
  }
  function changedWords(review, record) {
    var variant = state.variant === "nearest" ? "nearest" : "direction";   // continuous changes no word
    var n = 0;
    record[variant].forEach(function (w, t) { if (w !== review.tokens[t]) { n += 1; } });
    return n;
  }
  function stats(review) {
    var names = shownRows(review), gap = -Infinity, changed = 0, flipped = false;
    names.forEach(function (name) {
      var r = review.rows[name];
      gap = Math.max(gap, r.ppl[state.variant] - review.ppl);
      changed = Math.max(changed, changedWords(review, r));
      flipped = flipped || r.predictions[state.variant] !== r.predictions.original;
    });
    return { gap: names.length ? gap : 0, changed: changed, flipped: flipped, rows: names.length };
  }

  function scaleOf(name) { return state.scale === "row" ? data.row_scales[name] : data.scale; }
  function colourOf(norm, word, scale) {
    var alpha = scale > 0 ? Math.min(1, norm / scale) : 0;
    var hue = HUES.norm;
    if (state.colour === "lean" && data.leanings) {
      var lean = data.leanings[word];
      hue = lean === null || Math.abs(lean) < LEAN ? HUES.neutral : (lean > 0 ? HUES.positive : HUES.negative);
    }
    return { background: "rgba(" + hue.join(",") + "," + alpha.toFixed(3) + ")", dark: alpha > 0.55 };
  }

  function buildList() {
    var seed = data.seeds[state.seed];
    var list = [];
    seed.reviews.forEach(function (review) {
      if (state.label !== "" && String(review.label) !== state.label) { return; }
      var s = stats(review);
      if (!s.rows || (state.flipped && !s.flipped)) { return; }
      list.push({ review: review, stats: s });
    });
    if (state.sort === "gap") { list.sort(function (a, b) { return b.stats.gap - a.stats.gap || a.review.index - b.review.index; }); }
    if (state.sort === "changed") {
      list.sort(function (a, b) { return b.stats.changed - a.stats.changed || a.review.index - b.review.index; });
    }
    state.list = list;
    var ol = $("review-list");
    ol.textContent = "";
    list.forEach(function (item, i) {
      var li = el("li");
      li.dataset.index = item.review.index;
      li.dataset.position = i;
      li.appendChild(el("span", null, "#" + item.review.index + " " + labelName(item.review.label) +
        " \u00b7 gap " + signed(item.stats.gap) + " \u00b7 " + item.stats.changed + " changed"));
      if (item.stats.flipped) { li.appendChild(el("span", "flip", " \u00b7 flipped")); }
      li.addEventListener("click", function () { select(i); });
      ol.appendChild(li);
    });
    $("count").textContent = list.length + " of " + seed.reviews.length + " reviews of seed " + seed.seed + " shown.";
    select(Math.min(state.position, Math.max(0, list.length - 1)));
  }

  function select(position) {
    var ol = $("review-list");
    var old = ol.querySelector("li.selected");
    if (old) { old.classList.remove("selected"); }
    state.position = position;
    var li = ol.children[position];
    if (li) {
      li.classList.add("selected");
      if (li.scrollIntoView) { li.scrollIntoView({ block: "nearest" }); }
    }
    drawReview(state.list[position]);
  }

  function diffLine(name, review, record, variant) {
    var line = el("div", "diff");
    line.appendChild(el("span", "name", variant + ":"));
    var n = 0;
    record[variant].forEach(function (w, t) {
      if (w === review.tokens[t]) { return; }
      if (n > 0) { line.appendChild(document.createTextNode(", ")); }
      line.appendChild(el("span", "old", words[review.tokens[t]]));
      line.appendChild(document.createTextNode(" -> "));
      line.appendChild(el("span", "new", words[w]));
      n += 1;
    });
    if (!n) { line.appendChild(el("span", null, "no word changes")); }
    return line;
  }

  // A Table 4 diff ("a [[old]] -> [[new]] b"): the marked words shown as old -> new.
  function attackLine(name, attack) {
    var box = el("div", "attack");
    box.appendChild(el("span", "name", "Table 4 attack on " + (titles[name] || name) + " (" + attack.changed +
      " word" + (attack.changed === 1 ? "" : "s") + " substituted; LM perplexity " + fmt(attack.ppl[0], 1) +
      " -> " + fmt(attack.ppl[1], 1) + "): "));
    var parts = attack.diff.split(/(\[\[[^\]]*\]\] -> \[\[[^\]]*\]\])/);
    parts.forEach(function (part) {
      var m = /^\[\[([^\]]*)\]\] -> \[\[([^\]]*)\]\]$/.exec(part);
      if (!m) { box.appendChild(document.createTextNode(part)); return; }
      box.appendChild(el("span", "old", m[1]));
      box.appendChild(document.createTextNode(" -> "));
      box.appendChild(el("span", "new", m[2]));
    });
    return box;
  }

  function drawReview(item) {
    var box = $("review");
    box.textContent = "";
    if (!item) { box.appendChild(el("p", "missing", "No review matches the filters.")); return; }
    var review = item.review, seed = data.seeds[state.seed];
    box.dataset.index = review.index;
    box.appendChild(el("h3", null, "Test review #" + review.index + " (label " + labelName(review.label) +
      ", " + review.tokens.length + " tokens), seed " + seed.seed + "; LM perplexity of the original " +
      fmt(review.ppl, 1)));
    var original = el("div", "method-row original");
    original.appendChild(el("h4", null, "Original review"));
    var tokens = el("div", "tokens");
    review.tokens.forEach(function (w) { tokens.appendChild(el("span", "token", words[w])); tokens.appendChild(document.createTextNode(" ")); });
    original.appendChild(tokens);
    box.appendChild(original);
    var attacks = seed.attacks[String(review.index)] || {};
    shownRows(review).forEach(function (name) {
      var r = review.rows[name];
      var row = el("div", "method-row");
      row.dataset.row = name;
      row.appendChild(el("h4", null, (titles[name] || name) +
        (state.scale === "row" ? " (full colour at ||d_t|| " + fmt(data.row_scales[name], 4) + ")" : "")));
      var p = r.predictions, v = state.variant, flipped = p[v] !== p.original;
      var verdicts = el("div", "verdicts");
      verdicts.appendChild(el("span", null, "prediction: original " + labelName(p.original) + "; continuous " +
        labelName(p.continuous) + ", nearest " + labelName(p.nearest) + ", direction " + labelName(p.direction) +
        " \u00b7 LM perplexity (" + v + ") " + fmt(r.ppl[v], 1) + ", gap " + signed(r.ppl[v] - review.ppl) + " "));
      if (flipped) { verdicts.appendChild(el("span", "flip", "flipped (" + v + ")")); }
      row.appendChild(verdicts);
      var line = el("div", "tokens");
      review.tokens.forEach(function (w, t) {
        var norm = r.norms[t], colour = colourOf(norm, r.direction[t], scaleOf(name));
        var span = el("span", "token", words[w]);
        span.dataset.norm = norm;
        span.style.background = colour.background;
        if (colour.dark) { span.style.color = "#fff"; }
        var lean = data.leanings ? data.leanings[r.direction[t]] : null;
        span.title = "||d_t|| = " + norm + "\ndirection: " + words[w] + " -> " + words[r.direction[t]] +
          (lean === null || lean === undefined ? "" : " (lean " + lean + ")") +
          "\nnearest: " + words[w] + " -> " + words[r.nearest[t]];
        line.appendChild(span);
        line.appendChild(document.createTextNode(" "));
      });
      row.appendChild(line);
      row.appendChild(diffLine(name, review, r, "direction"));
      row.appendChild(diffLine(name, review, r, "nearest"));
      if (attacks[name]) { row.appendChild(attackLine(name, attacks[name])); }
      box.appendChild(row);
    });
    data.attack_rows.forEach(function (a) {   // attacked models with no perturbation of their own (Baseline, ...)
      if (attacks[a.name] && !review.rows[a.name] && (!state.method || state.method === a.name)) {
        box.appendChild(attackLine(a.name, attacks[a.name]));
      }
    });
  }

  function drawLegend() {
    var legend = $("legend");
    legend.textContent = "";
    var hue = HUES.norm;
    var scale = el("span", null, "||d_t||: 0");
    var full = state.scale === "row" ? "each method's own 99th percentile of its nonzero norms (in its title)"
      : fmt(data.scale, 4) + " (99th percentile of every nonzero norm of every method, review and seed; larger: full colour)";
    var bar = el("span", "bar");
    if (state.colour === "lean" && data.leanings) { hue = HUES.neutral; }
    bar.style.background = "linear-gradient(to right, rgba(" + hue.join(",") + ",0), rgba(" + hue.join(",") + ",1))";
    scale.appendChild(bar);
    scale.appendChild(document.createTextNode(full));
    legend.appendChild(scale);
    if (state.colour === "lean" && data.leanings) {
      [["positive", "direction word leans positive"], ["negative", "leans negative"],
       ["neutral", "neither (|lean| < " + LEAN + ") or rare"]].forEach(function (pair) {
        var item = el("span");
        var swatch = el("span", "swatch");
        swatch.style.background = "rgb(" + HUES[pair[0]].join(",") + ")";
        item.appendChild(swatch);
        item.appendChild(document.createTextNode(pair[1]));
        legend.appendChild(item);
      });
      legend.appendChild(el("span", null, "lean: (share of positive - share of negative training reviews holding " +
        "the word) / their sum"));
    }
  }

  function setUp() {
    data.seeds.forEach(function (s, i) { option($("seed"), i, String(s.seed)); });
    data.rows.forEach(function (r) { option($("method"), r.name, r.title); });
    data.labels.forEach(function (name, y) { option($("label"), String(y), name); });
    if (!data.leanings) {
      var colour = $("colour");
      colour.removeChild(colour.querySelector('option[value="lean"]'));
    }
    [["seed", "seed"], ["method", "method"], ["label", "label"], ["variant", "variant"], ["sort", "sort"],
     ["colour", "colour"], ["scale", "scale"]].forEach(function (pair) {
      $(pair[0]).addEventListener("change", function (event) {
        state[pair[1]] = pair[1] === "seed" ? Number(event.target.value) : event.target.value;
        if (pair[1] !== "colour" && pair[1] !== "scale") { state.position = 0; }
        drawLegend();
        buildList();
      });
    });
    $("flipped").addEventListener("change", function (event) {
      state.flipped = event.target.checked;
      state.position = 0;
      buildList();
    });
    document.addEventListener("keydown", function (event) {
      var tag = event.target && event.target.tagName;
      if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey) { return; }
      var last = state.list.length - 1, handled = true;
      if (event.key === "j" || event.key === "ArrowDown") { select(Math.min(last, state.position + 1)); }
      else if (event.key === "k" || event.key === "ArrowUp") { select(Math.max(0, state.position - 1)); }
      else if (event.key === "Home") { select(0); }
      else if (event.key === "End") { select(Math.max(0, last)); }
      else if (event.key === "f") { $("flipped").checked = !$("flipped").checked; $("flipped").dispatchEvent(new Event("change")); }
      else if (event.key === "m" || event.key === "s") {
        var menu = $(event.key === "m" ? "method" : "seed");
        menu.selectedIndex = (menu.selectedIndex + 1) % menu.options.length;
        menu.dispatchEvent(new Event("change"));
      } else { handled = false; }
      if (handled) { event.preventDefault(); }
    });
    $("colour").value = state.colour;
    drawLegend();
    buildList();
  }

  setUp();
}());
