//! Plain-text tables and ages as kubectl prints them.

use jiff::Timestamp;

/// Columns padded to their widest cell, three spaces apart, no trailing blanks.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i] + 3 - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// How long ago `then` was, as kubectl's AGE column says it: `45s`, `5m30s`, `42m`,
/// `3h20m`, `26h`, `3d5h`, `45d`, `2y`; `<unknown>` without a time.
pub fn age(then: Option<Timestamp>, now: Timestamp) -> String {
    let Some(then) = then else {
        return "<unknown>".into();
    };
    let s = (now.as_second() - then.as_second()).max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match s {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 && s % 60 != 0 => format!("{m}m{}s", s % 60),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 && m % 60 != 0 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 && h % 24 != 0 => format!("{d}d{}h", h % 24),
        _ if d < 365 * 2 => format!("{d}d"),
        _ => format!("{}y", d / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let t = render(
            &["NAME", "READY"],
            &[
                vec!["a-long-name".into(), "1".into()],
                vec!["b".into(), "10".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME          READY\na-long-name   1\nb             10\n"
        );
    }

    #[test]
    fn ages_read_like_kubectls() {
        let now: Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
        let ago = |secs: i64| age(Some(now - jiff::SignedDuration::from_secs(secs)), now);
        assert_eq!(ago(45), "45s");
        assert_eq!(ago(330), "5m30s");
        assert_eq!(ago(600), "10m");
        assert_eq!(ago(42 * 60), "42m");
        assert_eq!(ago(3 * 3600 + 20 * 60), "3h20m");
        assert_eq!(ago(26 * 3600), "26h");
        assert_eq!(ago(3 * 86400 + 5 * 3600), "3d5h");
        assert_eq!(ago(45 * 86400), "45d");
        assert_eq!(ago(800 * 86400), "2y");
        assert_eq!(age(None, now), "<unknown>");
    }
}
