//! Drawing: the header lines, the fitted table, the detail pane, the footer.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn state_style(state: State, color: bool) -> Style {
    if !color {
        return Style::default();
    }
    Style::default().fg(match state {
        State::Online => Color::Green,
        State::Offline => Color::Red,
        State::Unknown => Color::Yellow,
    })
}

/// Draws the whole screen: two header lines, the table (or a client's detail), a footer.
pub fn draw(f: &mut Frame<'_>, st: &Status<'_>, view: &mut View, now: DateTime<Utc>) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let screen = usize::from(f.area().width);
    let mut rows = st
        .registry
        .rows(view.sort, view.offline_only.then_some(State::Offline));
    if !view.filter.is_empty() {
        let filter = view.filter.to_lowercase();
        rows.retain(|r| View::shows(&filter, &r.name));
    }
    let height = usize::from(body.height.saturating_sub(1)).max(1);
    view.page = height;
    if !view.moved {
        if let Some(i) = view
            .cursor_name
            .as_deref()
            .and_then(|n| rows.iter().position(|r| &*r.name == n))
        {
            view.cursor = i;
        }
    }
    view.moved = false;
    view.cursor = view.cursor.min(rows.len().saturating_sub(1));
    view.cursor_name = rows.get(view.cursor).map(|r| r.name.to_string());
    if view.cursor < view.offset {
        view.offset = view.cursor;
    } else if view.cursor >= view.offset + height {
        view.offset = view.cursor + 1 - height;
    }
    view.offset = view.offset.min(rows.len().saturating_sub(height));
    let first = first_line(st, view, now, screen);
    let second = second_line(st, view, &rows, height, screen);
    f.render_widget(Paragraph::new(vec![first, second]), head);
    let shown = &rows[view.offset..(view.offset + height).min(rows.len())];
    draw_table(f, body, shown, view.cursor - view.offset, view, now);
    if rows.is_empty() && body.height > 1 {
        let why = if st.registry.is_empty() {
            format!(
                "no status on {} yet (mqtt-scan list -t '#' shows what the broker holds)",
                escape(&view.topics)
            )
        } else if !view.filter.is_empty() {
            format!(
                "no client name contains \"{}\" (Esc clears the filter)",
                escape(&view.filter)
            )
        } else {
            "no client is offline (o shows them all)".to_owned()
        };
        let line = Line::from(clip_spans(vec![Span::raw(why)], screen));
        f.render_widget(
            Paragraph::new(line).style(Style::default().add_modifier(Modifier::DIM)),
            Rect {
                y: body.y + 1,
                height: 1,
                ..body
            },
        );
    }
    if let Some(name) = view.detail.clone() {
        draw_detail(f, body, st.registry.get(&name), &name, view, now);
    }
    let footer = footer_line(view, screen);
    f.render_widget(
        Paragraph::new(footer).style(Style::default().add_modifier(Modifier::DIM)),
        foot,
    );
}

/// `mqtt-scan BROKER  ● connected  [stale since T]  CLOCK`: the times are never cut; the
/// connection's reason, then the broker, then the program name give way first.
pub(super) fn first_line(
    st: &Status<'_>,
    view: &View,
    now: DateTime<Utc>,
    screen: usize,
) -> Line<'static> {
    let (link, link_style) = match (st.link, st.syncing) {
        (Link::Connected, true) => (
            "● connected, syncing".to_owned(),
            Style::default().fg(Color::Yellow),
        ),
        (Link::Connected, false) => (
            "● connected".to_owned(),
            state_style(State::Online, view.color),
        ),
        (Link::Reconnecting { attempt, reason }, _) => (
            format!("○ reconnecting (attempt {attempt}): {}", escape(reason)),
            state_style(State::Offline, view.color),
        ),
    };
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut right: Vec<(String, Style)> = Vec::new();
    if let Some(since) = st.stale_since {
        right.push((format!("stale since {}", since.format("%H:%M:%SZ")), bold));
    }
    right.push((now.format("%H:%M:%SZ").to_string(), Style::default()));
    let right_width =
        |r: &[(String, Style)]| r.iter().map(|(t, _)| width(t) + 2).sum::<usize>() - 2;
    if right.len() == 2 && right_width(&right) > screen {
        right.pop();
    }
    if let (Some(since), true) = (st.stale_since, right_width(&right) > screen) {
        right[0].0 = format!("stale {}", since.format("%H:%M:%SZ"));
    }
    let budget = screen.saturating_sub(right_width(&right) + 2);
    let mut prefix = "mqtt-scan ";
    let mut broker = escape(&view.broker).into_owned();
    let mut link = link;
    let left = |p: &str, b: &str, l: &str| width(p) + width(b) + 2 + width(l);
    let over = left(prefix, &broker, &link).saturating_sub(budget);
    if over > 0 {
        // Down to `○ reconnecting…`.
        let w = width(&link);
        link = shorten(&link, w.saturating_sub(over).max(15.min(w)), false).into_owned();
    }
    if left(prefix, &broker, &link) > budget {
        prefix = "";
    }
    let over = left(prefix, &broker, &link).saturating_sub(budget);
    if over > 0 {
        let w = width(&broker);
        broker = shorten(&broker, w.saturating_sub(over).max(12.min(w)), true).into_owned();
    }
    let mut spans = clip_spans(
        vec![
            Span::styled(prefix, bold),
            Span::raw(broker),
            Span::raw("  "),
            Span::styled(link, link_style),
        ],
        budget,
    );
    for (text, style) in right {
        if !spans.is_empty() {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(text, style));
    }
    Line::from(clip_spans(spans, screen))
}

/// Counts, sort, filters, position, topics; cut at the end (with `…`) to fit.
pub(super) fn second_line(
    st: &Status<'_>,
    view: &View,
    rows: &[&Row],
    height: usize,
    screen: usize,
) -> Line<'static> {
    let counts = st.registry.summary();
    let mut spans = vec![
        Span::raw(format!("{} {}: ", counts.total, clients(counts.total))),
        Span::styled(
            format!("{} online", counts.online),
            state_style(State::Online, view.color),
        ),
        Span::raw(", "),
        Span::styled(
            format!("{} offline", counts.offline),
            state_style(State::Offline, view.color),
        ),
        Span::raw(", "),
        Span::styled(
            format!("{} unknown", counts.unknown),
            state_style(State::Unknown, view.color),
        ),
    ];
    let mut rest = format!(
        "   sort: {}",
        match view.sort {
            SortKey::Name => "name",
            SortKey::State => "state",
            SortKey::Since => "since",
        }
    );
    if view.offline_only {
        rest.push_str("   offline only");
    }
    spans.push(Span::raw(rest));
    if !view.filter.is_empty() || view.editing {
        spans.push(Span::raw("   "));
        spans.push(Span::styled(
            format!("filter: {}", escape(&view.filter)),
            Style::default().add_modifier(Modifier::BOLD),
        ));
    }
    spans.push(Span::raw(format!(
        "   rows {}-{} of {}   topics: {}",
        if rows.is_empty() { 0 } else { view.offset + 1 },
        (view.offset + height).min(rows.len()),
        rows.len(),
        escape(&view.topics)
    )));
    Line::from(clip_spans(spans, screen))
}

pub(super) fn footer_line(view: &View, screen: usize) -> Line<'static> {
    let spans = if view.editing {
        vec![
            Span::styled(
                format!("/{}▏", escape(&view.filter)),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw("   Enter keep   Esc clear   Backspace delete"),
        ]
    } else if view.detail.is_some() {
        vec![Span::raw(
            "Esc/Enter/q close   ↑↓ PgUp PgDn Home scroll   Ctrl-C quit",
        )]
    } else if let Some(m) = &view.message {
        vec![Span::styled(
            format!("warning: {}", escape(m)),
            Style::default().fg(Color::Yellow),
        )]
    } else {
        let mut help = "q quit   ↑↓ select   Enter details   / filter   s sort   o offline only   PgUp PgDn Home End".to_owned();
        if !view.filter.is_empty() {
            help = format!("Esc clear filter   {help}");
        }
        vec![Span::raw(help)]
    };
    Line::from(clip_spans(spans, screen))
}

/// The spans in at most `max` columns: what does not fit is cut, with `…`.
pub(super) fn clip_spans(spans: Vec<Span<'static>>, max: usize) -> Vec<Span<'static>> {
    let total: usize = spans.iter().map(|s| width(&s.content)).sum();
    if total <= max {
        return spans;
    }
    let mut out = Vec::new();
    let mut used = 0;
    for s in spans {
        let w = width(&s.content);
        if used + w < max {
            used += w;
            out.push(s);
            continue;
        }
        // A trailing space makes a span that fits exactly too long: it is cut too, so the
        // `…` says more followed.
        let cut = shorten(&format!("{} ", s.content), max - used, false).into_owned();
        out.push(Span::styled(cut, s.style));
        break;
    }
    out
}

/// The table fitted to the window (see [`columns::fit`]): whole names and times where
/// anything else can give way; the selected row marked in a gutter.
pub(super) fn draw_table(
    f: &mut Frame<'_>,
    area: Rect,
    rows: &[&Row],
    selected: usize,
    view: &View,
    now: DateTime<Utc>,
) {
    let cells: Vec<table::Cells<'_>> = rows.iter().map(|r| table::cells(r, now)).collect();
    let room = usize::from(area.width).saturating_sub(width(CURSOR));
    let layout = table::layout(
        view.columns.as_deref(),
        view.source,
        &cells,
        Some(room),
        GAP,
    );
    let header = TableRow::new(layout.iter().map(|(c, w)| shorten(c.header(), *w, false)))
        .style(Style::default().add_modifier(Modifier::BOLD));
    let changed_style = if view.color {
        Style::default()
            .add_modifier(Modifier::BOLD)
            .bg(Color::DarkGray)
    } else {
        Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    };
    let body = rows.iter().zip(&cells).map(|(r, c)| {
        let row = TableRow::new(layout.iter().map(|&(col, w)| {
            if col == Column::State {
                Cell::from(Span::styled(
                    r.state.as_str(),
                    state_style(r.state, view.color),
                ))
            } else {
                Cell::from(col.cut(&c.text[col.index()], w))
            }
        }));
        if view.changed.contains_key(&*r.name) {
            row.style(changed_style)
        } else {
            row
        }
    });
    let widths = layout
        .iter()
        .map(|(_, w)| Constraint::Length(u16::try_from(*w).unwrap_or(u16::MAX)));
    let mut state = TableState::default();
    if !rows.is_empty() {
        state.select(Some(selected));
    }
    let table = Table::new(body, widths)
        .header(header)
        .column_spacing(u16::try_from(GAP).unwrap_or(2))
        .highlight_symbol(CURSOR)
        .highlight_spacing(HighlightSpacing::Always)
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    f.render_stateful_widget(table, area, &mut state);
}

/// The detail pane over the table: everything about one client, its whole payload and
/// what this watcher saw it do.
pub(super) fn draw_detail(
    f: &mut Frame<'_>,
    area: Rect,
    row: Option<&Row>,
    name: &str,
    view: &mut View,
    now: DateTime<Utc>,
) {
    let (fields, payload, history) =
        detail_parts(row, name, view.history.get(name), now, view.color);
    let title = shorten(
        &escape(name),
        usize::from(area.width).saturating_sub(4),
        true,
    )
    .into_owned();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "));
    let inner = block.inner(area);
    f.render_widget(Clear, area);
    f.render_widget(block, area);
    // Wide: the fields and the history on the left, the payload beside them; narrow: one
    // column, scrolled.
    let columns: Vec<(Rect, Vec<Line<'static>>)> = if area.width >= 100 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .spacing(2)
                .areas(inner);
        let mut l = fields;
        l.push(Line::from(""));
        l.extend(history);
        vec![(left, l), (right, payload)]
    } else {
        let mut l = fields;
        l.push(Line::from(""));
        l.extend(payload);
        l.push(Line::from(""));
        l.extend(history);
        vec![(inner, l)]
    };
    let longest = columns.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    view.detail_scroll = view
        .detail_scroll
        .min(u16::try_from(longest.saturating_sub(1)).unwrap_or(u16::MAX));
    for (rect, lines) in columns {
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((view.detail_scroll, 0)),
            rect,
        );
    }
}

/// A detail line per field, the payload, the history.
type Parts = (Vec<Line<'static>>, Vec<Line<'static>>, Vec<Line<'static>>);

/// The detail pane's text: every field escaped, a JSON payload pretty-printed.
pub fn detail_parts(
    row: Option<&Row>,
    name: &str,
    history: Option<&VecDeque<Seen>>,
    now: DateTime<Utc>,
    color: bool,
) -> Parts {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let field = |key: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{key:<10} "), bold),
            Span::raw(value),
        ])
    };
    let mut lines = vec![field("name", escape(name).into_owned())];
    match row {
        None => lines.push(Line::from(
            "(no longer in the table: its retained status was cleared)",
        )),
        Some(r) => {
            lines.push(Line::from(vec![
                Span::styled(format!("{:<10} ", "state"), bold),
                Span::styled(r.state.as_str(), state_style(r.state, color)),
            ]));
            lines.push(field(
                "detail",
                r.detail_text()
                    .map_or_else(|| "-".to_owned(), |d| escape(&d).into_owned()),
            ));
            lines.push(field("topic", escape(&r.topic).into_owned()));
            lines.push(field("source", escape(&r.source).into_owned()));
            lines.push(field(
                "since",
                match r.since {
                    Some(t) => format!("{} (for {})", Rfc3339::table(t).as_str(), age(t, now)),
                    None if r.retained => {
                        "retained: set before this watcher looked, the payload has no time"
                            .to_owned()
                    }
                    None => "-".to_owned(),
                },
            ));
            lines.push(field(
                "last seen",
                format!(
                    "{} ({} ago)",
                    Rfc3339::table(r.last_seen).as_str(),
                    age(r.last_seen, now)
                ),
            ));
            lines.push(field(
                "ip",
                r.ip()
                    .map_or_else(|| "-".to_owned(), |ip| escape(ip).into_owned()),
            ));
            if let Some(reported) = r.reported_name() {
                lines.push(field("reported", escape(reported).into_owned()));
            }
            lines.push(field("retained", r.retained.to_string()));
            lines.push(field("changes", r.changes.to_string()));
        }
    }
    let mut payload = vec![Line::styled("payload", bold)];
    match row.map(|r| &r.payload) {
        Some(Payload::Json(v)) => {
            let pretty = serde_json::to_string_pretty(&**v).unwrap_or_default();
            for l in pretty.lines() {
                payload.push(Line::from(format!("  {}", escape(l))));
            }
        }
        Some(Payload::Text(t)) if !t.is_empty() => {
            payload.push(Line::from(format!("  {}", escape(t))));
        }
        _ => payload.push(Line::from("  (empty)")),
    }
    let mut past = vec![Line::styled(
        format!("history (state changes this watcher saw, newest first, at most {HISTORY})"),
        bold,
    )];
    match history {
        Some(h) if !h.is_empty() => {
            for seen in h.iter().rev() {
                let to = seen.to.map_or("removed", State::as_str);
                let what = match seen.from {
                    None => format!("first seen {to}"),
                    Some(from) => format!("{from} -> {to}"),
                };
                past.push(Line::from(format!(
                    "  {}  {what}{}",
                    Rfc3339::table(seen.time).as_str(),
                    if seen.retained { " (retained)" } else { "" }
                )));
            }
        }
        _ => past.push(Line::from("  (none yet)")),
    }
    (lines, payload, past)
}
