"""The stylesheet and the small script of run reports and notebook views.

Every rule is scoped under ``.assay`` so the same CSS can sit inside a notebook's output without
restyling the notebook. No web fonts, no external files: the system font stack only.
"""

from __future__ import annotations

CSS = """
.assay{--ink:#1d2430;--muted:#5b6574;--line:#e3e7ee;--soft:#f6f8fb;--accent:#2f5d9e;
  --bad:#b42318;--bad-bg:#fdecea;--warn:#9a5b00;--warn-bg:#fff4d6;--good:#0a7a4b;--good-bg:#e3f7ec;
  font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  color:var(--ink);font-size:15px;line-height:1.5;}
.assay.page{max-width:1180px;margin:0 auto;padding:28px 32px 64px;}
.assay *{box-sizing:border-box;}
.assay h1{font-size:28px;margin:2px 0 2px;line-height:1.2;letter-spacing:-.01em;}
.assay h2{font-size:20px;margin:40px 0 12px;padding-bottom:6px;border-bottom:2px solid var(--line);}
.assay h3{font-size:15px;margin:22px 0 8px;color:var(--muted);text-transform:uppercase;
  letter-spacing:.04em;}
.assay .kicker{font-size:12px;text-transform:uppercase;letter-spacing:.08em;color:var(--muted);}
.assay .model{font-size:17px;color:var(--accent);font-weight:600;word-break:break-all;}
.assay .desc{color:var(--muted);max-width:80ch;margin:6px 0 0;}
.assay code,.assay .mono,.assay pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,
  "DejaVu Sans Mono",monospace;font-size:12.5px;}
.assay .hash{word-break:break-all;}
.assay dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:14px 0 0;
  font-size:13.5px;}
.assay dl.meta dt{color:var(--muted);}
.assay dl.meta dd{margin:0;}
.assay .cards{display:flex;flex-wrap:wrap;gap:12px;margin:22px 0 6px;}
.assay .card{flex:1 1 150px;max-width:260px;border:1px solid var(--line);border-radius:10px;
  padding:12px 14px;background:#fff;box-shadow:0 1px 2px rgba(16,24,40,.05);}
.assay .card .label{font-size:12px;color:var(--muted);text-transform:uppercase;
  letter-spacing:.04em;}
.assay .card .value{font-size:26px;font-weight:650;line-height:1.25;font-variant-numeric:tabular-nums;}
.assay .card .note{font-size:12.5px;color:var(--muted);font-variant-numeric:tabular-nums;}
.assay .card.warn{border-color:#f3c969;background:var(--warn-bg);}
.assay .card.bad{border-color:#f4a29b;background:var(--bad-bg);}
.assay nav.toc{font-size:13.5px;margin:18px 0 0;color:var(--muted);}
.assay nav.toc a{color:var(--accent);text-decoration:none;margin-right:14px;}
.assay .banner{margin:16px 0 0;padding:10px 14px;border-radius:8px;background:var(--warn-bg);
  color:var(--warn);border:1px solid #f3c969;}
.assay table{border-collapse:collapse;font-size:13.5px;}
.assay th,.assay td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;
  vertical-align:top;}
.assay th{background:var(--soft);font-weight:600;color:#344054;white-space:nowrap;}
.assay td.n,.assay th.n{text-align:right;font-variant-numeric:tabular-nums;}
.assay table.metrics td.value{font-weight:650;font-size:15px;}
.assay .ci{position:relative;display:inline-block;width:160px;height:12px;margin-top:4px;
  background:var(--soft);border:1px solid var(--line);border-radius:6px;}
.assay .ci .range{position:absolute;top:2px;bottom:2px;background:#9db6dc;border-radius:3px;}
.assay .ci .dot{position:absolute;top:-1px;width:3px;height:12px;margin-left:-1px;
  background:var(--accent);border-radius:1px;}
.assay .notes{margin:10px 0 0;padding-left:18px;color:var(--muted);font-size:13.5px;}
.assay .grid{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start;}
.assay figure{margin:0;padding:12px;border:1px solid var(--line);border-radius:10px;
  background:#fff;max-width:100%;}
.assay figure img{max-width:100%;height:auto;display:block;}
.assay figcaption{font-size:12.5px;color:var(--muted);margin-top:8px;max-width:62ch;}
.assay figcaption b{color:var(--ink);}
.assay .badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:11.5px;
  font-weight:600;white-space:nowrap;border:1px solid transparent;}
.assay .badge.failed{background:var(--bad);color:#fff;}
.assay .badge.wrong{background:var(--bad-bg);color:var(--bad);border-color:#f4a29b;}
.assay .badge.correct{background:var(--good-bg);color:var(--good);border-color:#9fdcbc;}
.assay .badge.scored{background:var(--soft);color:var(--muted);border-color:var(--line);}
.assay .badge.done{background:var(--good-bg);color:var(--good);}
.assay .badge.running,.assay .badge.dirty{background:var(--warn-bg);color:var(--warn);}
.assay .badge.clean{background:var(--good-bg);color:var(--good);}
.assay .badge.ok{background:var(--good-bg);color:var(--good);border-color:#9fdcbc;}
.assay .badge.flagged{background:var(--bad-bg);color:var(--bad);border-color:#f4a29b;}
.assay .badge.inconclusive,.assay .badge.unchecked{background:var(--soft);color:var(--muted);
  border-color:var(--line);}
.assay .reason{color:var(--bad);font-size:12px;margin-top:4px;max-width:24ch;}
.assay .controls{display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin:6px 0 10px;
  font-size:13.5px;}
.assay .controls input,.assay .controls select{font:inherit;padding:5px 9px;
  border:1px solid #cfd6e0;border-radius:6px;}
.assay .controls input{width:260px;}
.assay .muted{color:var(--muted);}
.assay .scroll{overflow-x:auto;border:1px solid var(--line);border-radius:10px;}
.assay table.samples{width:100%;}
.assay .thumbs{display:flex;gap:4px;margin-bottom:4px;}
.assay img.thumb{max-width:96px;max-height:96px;border:1px solid #d0d5dd;border-radius:3px;}
.assay table.samples th{position:sticky;top:0;z-index:1;}
.assay table.samples th[data-sort]{cursor:pointer;user-select:none;}
.assay table.samples th[data-sort]:after{content:" \\2195";color:#98a2b3;font-weight:400;}
.assay table.samples th[data-dir=asc]:after{content:" \\2191";color:var(--accent);}
.assay table.samples th[data-dir=desc]:after{content:" \\2193";color:var(--accent);}
.assay table.samples tr.failed{background:#fff7f6;}
.assay table.samples tr.failed td:first-child{box-shadow:inset 3px 0 0 var(--bad);}
.assay table.samples tr.wrong td:first-child{box-shadow:inset 3px 0 0 #f4a29b;}
.assay table.samples td{font-size:13px;}
.assay td.text{min-width:180px;max-width:360px;}
.assay td.short{max-width:200px;}
.assay .txt{white-space:pre-wrap;word-break:break-word;}
.assay details.clip summary{cursor:pointer;list-style:none;}
.assay details.clip summary::-webkit-details-marker{display:none;}
.assay details.clip summary .more{color:var(--accent);font-size:12px;white-space:nowrap;}
.assay details.clip[open] summary .preview{display:none;}
.assay details.clip summary .less{display:none;color:var(--accent);font-size:12px;}
.assay details.clip[open] summary .less{display:inline;}
.assay details.clip[open] summary .more{display:none;}
.assay td.score{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;}
.assay td.score .bar{display:block;height:4px;margin-top:5px;min-width:48px;border-radius:2px;
  background:linear-gradient(90deg,var(--accent) calc(var(--v,0)*100%),var(--line) 0);}
.assay td.score.zero{color:var(--bad);font-weight:600;}
.assay td.score.one{color:var(--good);font-weight:600;}
.assay .id{color:var(--muted);font-size:11.5px;word-break:break-all;}
.assay ul.options{margin:4px 0 0;padding-left:16px;font-size:12px;}
.assay ul.options li.gold{color:var(--good);font-weight:600;}
.assay .prov{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px 24px;}
.assay table.kv{width:100%;}
.assay table.kv th{width:38%;background:none;color:var(--muted);font-weight:500;
  white-space:normal;}
.assay table.kv td{word-break:break-word;}
.assay details.raw{margin-top:14px;}
.assay details.raw summary{cursor:pointer;color:var(--accent);font-size:13.5px;}
.assay details.raw pre{background:var(--soft);border:1px solid var(--line);border-radius:8px;
  padding:12px;overflow:auto;max-height:480px;}
.assay footer{margin-top:48px;color:var(--muted);font-size:12.5px;border-top:1px solid var(--line);
  padding-top:12px;}
@media print{.assay .controls,.assay nav.toc{display:none}.assay .scroll{overflow:visible}}
"""

PAGE_CSS = "html{background:#fbfcfe;}body{margin:0;}"

SCRIPT = """
(function () {
  var table = document.getElementById("samples-table");
  if (!table) return;
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var query = document.getElementById("sample-filter");
  var status = document.getElementById("sample-status");
  var count = document.getElementById("sample-count");
  function apply() {
    var q = query.value.toLowerCase(), st = status.value, shown = 0;
    rows.forEach(function (r) {
      var s = r.getAttribute("data-status");
      var keep = st === "all" || s === st || (st === "failures" && (s === "failed" || s === "wrong"));
      if (keep && q) keep = r.textContent.toLowerCase().indexOf(q) >= 0;
      r.hidden = !keep;
      if (keep) shown++;
    });
    count.textContent = shown + " of " + rows.length + " shown";
  }
  query.addEventListener("input", apply);
  status.addEventListener("change", apply);
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, i) {
    if (!th.hasAttribute("data-sort")) return;
    th.tabIndex = 0;
    function sort() {
      var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("data-dir"); });
      th.setAttribute("data-dir", dir);
      rows.sort(function (a, b) {
        var x = a.cells[i].getAttribute("data-v"), y = b.cells[i].getAttribute("data-v");
        if (x === null) x = a.cells[i].textContent;
        if (y === null) y = b.cells[i].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return dir === "asc" ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
  });
  apply();
})();
"""

__all__ = ["CSS", "PAGE_CSS", "SCRIPT"]
