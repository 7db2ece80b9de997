//! QR detection's cost on the box (issue 14, benchmark): for every photo of the
//! corpus, the box's render (thumb 320, preview 1280, watermarked 1280, each as JPEG
//! and WebP, from one decode: what `derivatives` does per photo) against the tagger's
//! search of the stored 1280 preview (`media::qr::find_in_jpeg`: libjpeg-turbo decode
//! to grey, then rqrr). Then the same photo with a pass QR composited in as a
//! photographer shoots it (10 % of the width, rotated 15°, blurred, JPEG 80; see
//! tests/common/passframe.rs): is the pass found in the 1280 preview, and in the 320
//! thumb?
//!
//! ```text
//! cargo bench --bench qr -- [PHOTO_DIR]     (default: $VENUEBOX_TESTDATA/photos)
//! ```
//!
//! Prints one line per photo, then the median and 95th percentile of the search time,
//! of the render time, the search's share of a render (median over median), and how
//! many pass frames were found at each size. With no photo directory to be found it
//! says so and exits 0 (`cargo test --benches` runs every bench).

#[path = "../tests/common/passframe.rs"]
#[allow(dead_code)] // `photo` (scaling for the tests) is not needed here
mod passframe;

use std::path::PathBuf;
use std::time::Instant;

use venuebox::media::qr::find_in_jpeg;
use venuebox::media::render::{Format, Job, Renderer};
use venuebox::media::watermark::Watermark;

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("VENUEBOX_TESTDATA").map(|d| PathBuf::from(d).join("photos")))
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/photos")
        });
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!(
            "qr bench: no photo directory at {}; nothing measured",
            dir.display()
        );
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_lowercase();
            ext == "jpg" || ext == "jpeg"
        })
        .collect();
    files.sort();
    let watermark = Watermark {
        mark: "PREVIEW".into(),
        lines: vec!["Night market · Ana Lima".into()],
        opacity: 0.3,
        logo: None,
    };
    let jobs = [
        Job {
            size: 320,
            watermark: None,
        },
        Job {
            size: 1280,
            watermark: None,
        },
        Job {
            size: 1280,
            watermark: Some(&watermark),
        },
    ];
    let mut renderer = Renderer::new(venuebox::media::render::DEFAULT_MAX_PIXELS).unwrap();
    let code = "VB1ABCDEFGHJKMNPQRS"; // the pass code's shape: 19 characters, version 2-Q
    let (mut search_ms, mut render_ms) = (Vec::new(), Vec::new());
    let (mut found_1280, mut found_320, mut tried) = (0, 0, 0);
    println!("photo\trender_ms\tsearch_ms\tpass_found_1280\tpass_found_320");
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let started = Instant::now();
        let Ok(set) = renderer.render_jobs(&data, &jobs, &[Format::Jpeg, Format::Webp], 85) else {
            continue;
        };
        let render = started.elapsed().as_secs_f64() * 1000.0;
        let preview = &set[2].bytes; // job by job, JPEG first: 320 jpg, 320 webp, 1280 jpg
        let found = find_in_jpeg(preview).unwrap();
        let search = (found.decode + found.detect).as_secs_f64() * 1000.0;
        // The same photo as a pass frame.
        let (mut at_1280, mut at_320) = ("-", "-");
        if let Ok(img) = image::load_from_memory(&data) {
            tried += 1;
            let shot = passframe::composite(img.to_rgb8(), code, &passframe::Shot::default());
            let frame = passframe::jpeg(&shot, 80, None);
            if let Ok(set) = renderer.render_set(&frame, &[1280, 320], 85) {
                let hit = |bytes: &[u8]| {
                    find_in_jpeg(bytes)
                        .map(|f| f.texts.iter().any(|t| t == code))
                        .unwrap_or(false)
                };
                if hit(&set[0].bytes) {
                    found_1280 += 1;
                    at_1280 = "yes";
                } else {
                    at_1280 = "no";
                }
                if hit(&set[1].bytes) {
                    found_320 += 1;
                    at_320 = "yes";
                } else {
                    at_320 = "no";
                }
            }
        }
        println!(
            "{}\t{render:.1}\t{search:.1}\t{at_1280}\t{at_320}",
            file.file_name().unwrap().to_string_lossy()
        );
        search_ms.push(search);
        render_ms.push(render);
    }
    if search_ms.is_empty() {
        println!("qr bench: no photos rendered");
        return;
    }
    search_ms.sort_by(f64::total_cmp);
    render_ms.sort_by(f64::total_cmp);
    let (s50, s95) = (percentile(&search_ms, 0.5), percentile(&search_ms, 0.95));
    let (r50, r95) = (percentile(&render_ms, 0.5), percentile(&render_ms, 0.95));
    println!();
    println!("photos: {}", search_ms.len());
    println!("QR search of the 1280 preview: median {s50:.1} ms, p95 {s95:.1} ms");
    println!("render (3 derivatives × JPEG+WebP): median {r50:.1} ms, p95 {r95:.1} ms");
    println!("search / render (medians): {:.1} %", 100.0 * s50 / r50);
    println!("pass frames found: {found_1280}/{tried} in the 1280 preview, {found_320}/{tried} in the 320 thumb");
}
