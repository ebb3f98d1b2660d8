extension Report {
    /// The page's CSS: system fonts only (nothing to fetch), plots scale down on narrow screens.
    static let style = """

    :root { color-scheme: light; }
    body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
           margin: 0 auto; padding: 0 20px 32px; max-width: 1180px; color: #1d1d24; background: #f4f4f7; }
    header { padding: 18px 0 6px; }
    h1 { font-size: 26px; margin: 0 0 6px; word-break: break-all; }
    h2 { font-size: 19px; margin: 0 0 12px; }
    .status { margin: 0 0 12px; color: #444; }
    .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px; font-weight: 600; }
    .badge.ok { background: #d8f0dc; color: #1c6b2a; }
    .badge.running { background: #dde8fa; color: #1f4f99; }
    .alarm-count { color: #b3261e; font-weight: 600; }
    .cards { display: flex; flex-wrap: wrap; gap: 8px; }
    .card { background: #fff; border: 1px solid #dcdce4; border-radius: 6px; padding: 6px 12px; min-width: 104px; }
    .card span { display: block; font-size: 12px; color: #666; }
    .card b { font-size: 17px; }
    nav { position: sticky; top: 0; z-index: 1; background: #f4f4f7; padding: 8px 0; border-bottom: 1px solid #dcdce4; }
    nav a { margin-right: 18px; color: #1f4f99; text-decoration: none; font-weight: 600; }
    section { background: #fff; border: 1px solid #dcdce4; border-radius: 8px; padding: 16px 18px; margin: 16px 0; }
    .empty { color: #666; font-style: italic; margin: 4px 0; }
    table { border-collapse: collapse; font-size: 14px; }
    th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #ececf2; vertical-align: top; }
    th { color: #555; font-weight: 600; }
    table.config td:first-child { color: #444; white-space: nowrap; }
    code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
    table.alarms .kind { display: inline-block; min-width: 28px; padding: 0 5px; border-radius: 4px;
                         background: #fbe3e1; color: #b3261e; font-weight: 700; font-size: 12px; text-align: center; }
    .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 14px; }
    figure { margin: 0; }
    figure svg { display: block; max-width: 100%; height: auto; border: 1px solid #ececf2; border-radius: 4px; }
    figcaption, .caption, .facts, .note { font-size: 13px; color: #555; margin: 6px 2px 0; }
    .pair { display: flex; flex-wrap: wrap; gap: 14px; }
    .pair figure { flex: 1 1 540px; max-width: 560px; }
    .selector { margin: 0 0 12px; }
    .selector select { font-size: 15px; padding: 2px 6px; }
    [hidden] { display: none !important; }
    footer { color: #777; font-size: 12px; margin-top: 12px; }

    """

    /// Shows the quiver pair of the selected epoch; `report.html#epoch-5` opens on epoch 5 (a
    /// link to share). Written without `<` and `&` so the page stays well-formed XML.
    static let script = """

    (function () {
      var select = document.getElementById("epoch-select");
      if (!select) { return; }
      function show() {
        var blocks = document.querySelectorAll(".quiver-epoch");
        for (var i = 0; i !== blocks.length; i++) {
          blocks[i].hidden = blocks[i].getAttribute("data-epoch") !== select.value;
        }
      }
      var wanted = /^#epoch-([0-9]+)$/.exec(window.location.hash);
      if (wanted !== null) {
        for (var i = 0; i !== select.options.length; i++) {
          if (select.options[i].value === wanted[1]) { select.value = wanted[1]; }
        }
      }
      select.addEventListener("change", function () {
        show();
        if (window.history.replaceState) { window.history.replaceState(null, "", "#epoch-" + select.value); }
      });
      show();
    })();

    """
}
