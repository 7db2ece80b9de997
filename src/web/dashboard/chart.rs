//! The dashboard's charts as inline SVG, drawn on the server with maud (so every label,
//! a creator's name included, is escaped like any other text): horizontal bars, a
//! sparkline and a histogram. Sized by `viewBox` and CSS width, so one drawing fits a
//! phone and a laptop; no script, no external asset.

use maud::{html, Markup};

/// Width of every chart's coordinate system; the height follows the content.
const W: f64 = 320.0;

/// Horizontal bars, one per `(label, value)`, scaled to the largest; the value is
/// written at the bar's end. `title` is the chart's accessible name.
pub fn bars(title: &str, items: &[(String, u64)]) -> Markup {
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1) as f64;
    let row = 22.0;
    let label_w = 120.0;
    let h = (items.len() as f64 * row).max(row);
    html! {
        svg class="chart" viewBox=(format!("0 0 {W} {h}")) role="img" aria-label=(title) {
            title { (title) }
            @for (n, (label, value)) in items.iter().enumerate() {
                @let y = n as f64 * row;
                @let w = (W - label_w - 48.0) * (*value as f64) / max;
                text x="0" y=(format!("{:.1}", y + 15.0)) class="l" { (label) }
                rect x=(label_w) y=(format!("{:.1}", y + 4.0)) width=(format!("{:.1}", w.max(1.0))) height="14" rx="2" {}
                text x=(format!("{:.1}", label_w + w + 4.0)) y=(format!("{:.1}", y + 15.0)) class="v" { (value) }
            }
        }
    }
}

/// A sparkline of `values` (equal steps), with its largest value written at the right.
pub fn sparkline(title: &str, values: &[u64]) -> Markup {
    let h = 40.0;
    let max = values.iter().copied().max().unwrap_or(0);
    let top = max.max(1) as f64;
    let step = if values.len() > 1 {
        (W - 40.0) / (values.len() - 1) as f64
    } else {
        0.0
    };
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - 2.0 - (h - 4.0) * (*v as f64) / top
            )
        })
        .collect();
    html! {
        svg class="chart spark" viewBox=(format!("0 0 {W} {h}")) role="img" aria-label=(title) {
            title { (title) }
            polyline points=(points.join(" ")) {}
            text x=(W - 36.0) y="14" class="v" { "max " (max) }
        }
    }
}

/// A histogram: one column per `(bucket label, count)`, labels under the columns.
pub fn histogram(title: &str, buckets: &[(String, u64)]) -> Markup {
    let h = 90.0;
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let n = buckets.len().max(1) as f64;
    let col = W / n;
    html! {
        svg class="chart" viewBox=(format!("0 0 {W} {h}")) role="img" aria-label=(title) {
            title { (title) }
            @for (i, (label, count)) in buckets.iter().enumerate() {
                @let x = i as f64 * col;
                @let bh = 60.0 * (*count as f64) / max;
                rect x=(format!("{:.1}", x + 1.0)) y=(format!("{:.1}", 68.0 - bh)) width=(format!("{:.1}", col - 2.0)) height=(format!("{:.1}", bh)) {}
                @if *count > 0 {
                    text x=(format!("{:.1}", x + col / 2.0)) y=(format!("{:.1}", 64.0 - bh)) class="c" { (count) }
                }
                text x=(format!("{:.1}", x + col / 2.0)) y="84" class="c" { (label) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_bars_scale_to_the_largest() {
        let svg = bars(
            "by creator",
            &[("<script>x</script>".into(), 10), ("Bo & Al".into(), 5)],
        )
        .into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;") && svg.contains("Bo &amp; Al"));
        assert!(
            svg.contains("width=\"152.0\"") && svg.contains("width=\"76.0\""),
            "{svg}"
        );
    }

    #[test]
    fn empty_charts_still_draw() {
        assert!(bars("x", &[]).into_string().starts_with("<svg"));
        assert!(sparkline("x", &[]).into_string().contains("max 0"));
        assert!(histogram("x", &[]).into_string().starts_with("<svg"));
        let s = sparkline("x", &[0, 2, 1]).into_string();
        assert!(
            s.contains("points=\"0.0,38.0 140.0,2.0 280.0,20.0\""),
            "{s}"
        );
    }
}
