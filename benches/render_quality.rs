//! The quality half of the render benchmark (`bash benches/render.sh`): gives every
//! derivative a SSIMULACRA2 score against a reference made independently of the tools
//! being measured, so "as good as vipsthumbnail" is measured rather than assumed.
//!
//! Reference: the original decoded in full by the `image` crate (zune-jpeg, not the
//! libjpeg-turbo that venuebox, libvips and ImageMagick share), EXIF orientation
//! applied, then Lanczos3 (`image::imageops::resize`, in f32) to each output's exact
//! dimensions. Slow, but it is a reference. Colour: no ICC handling anywhere (the
//! reference ignores profiles, and so do outputs written without them); CMYK/YCCK is
//! converted by zune-jpeg's plain formula, which libvips (through a CMYK profile) does
//! not follow exactly, so those few files score lower for vips by construction.
//!
//! ```text
//! cargo bench --bench render_quality -- [options] OUTPUTS... ORIGINALS SIZE
//! ```
//!
//! - `OUTPUTS...`: one folder per tool, named after the tool (the name labels the
//!   column), each holding `<original file stem>_<SIZE>.<jpg|jpeg|webp|png>`.
//! - `ORIGINALS`: the folder of originals; files that are not images (by magic bytes)
//!   are listed and left out.
//! - `--routes FILE`: venuebox's `render` stdout (`file<TAB>size<TAB>route<TAB>decode
//!   ms<TAB>resize ms<TAB>encode ms`): adds the route column and a per-route table.
//! - `--timings FILE`: per-process wall times, `tool<TAB>file<TAB>ms`, for the
//!   per-route table.
//! - `--crops DIR` (and `--crop-count N`, default 4): writes PNGs of the same region
//!   at 100 %, side by side: reference, then each output folder in order, for the
//!   files where the first folder trails the second the most.
//!
//! Prints per-file scores, then per tool the median, mean and minimum over the files
//! every tool has a score for, whether the first folder's median is at least the
//! second's, and the file where the first trails the second the most, with whether
//! no file trails by more than 2 points (the per-file gate). Exit status: 0 when
//! every output was scored (originals the reference cannot decode are reported and
//! skipped), 1 when an output is missing or cannot be decoded, 2 on bad usage. With no arguments at all (as `cargo bench` and
//! `cargo test --benches` run every bench) it prints a note and exits 0.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, Rgb32FImage, RgbImage};
use ssimulacra2::{compute_frame_ssimulacra2, ColorPrimaries, Rgb, TransferCharacteristic};

/// Side of the square crop region, in output pixels (smaller outputs give smaller crops).
const CROP_SIDE: u32 = 256;
/// Gap between crop panels, in pixels.
const CROP_GAP: u32 = 6;
/// Output extensions looked for, in order.
const OUTPUT_EXTENSIONS: &[&str] = &["jpg", "jpeg", "webp", "png"];
/// Largest image decoded (the f32 copy takes 12 bytes a pixel, per thread).
const MAX_PIXELS: u64 = 120_000_000;
/// Routes `venuebox render` may print; anything else is reported.
const KNOWN_ROUTES: &[&str] = &[
    "exif-thumbnail",
    "mpf-preview",
    "scaled-decode",
    "full-decode",
];

/// What the command line asked for.
struct Args {
    outputs: Vec<PathBuf>,
    originals: PathBuf,
    size: u32,
    routes: Option<PathBuf>,
    timings: Option<PathBuf>,
    crops: Option<PathBuf>,
    crop_count: usize,
}

/// One line of `venuebox render` output.
struct RouteLine {
    route: String,
    decode_ms: f64,
    resize_ms: f64,
    encode_ms: f64,
}

/// The outcome for one output of one original.
enum Scored {
    /// SSIMULACRA2 score, output dimensions, output size in bytes, and a note when the
    /// dimensions are not what an upright, longest-edge-`SIZE` derivative would have.
    Score {
        score: f64,
        width: u32,
        height: u32,
        bytes: u64,
        note: Option<String>,
    },
    /// The output is missing, cannot be decoded, or cannot be scored.
    Failed(String),
}

/// Everything learnt about one original.
enum FileResult {
    /// The reference decoder could not read the original: skipped, with the reason.
    Skipped(String),
    /// One entry per output folder, plus crop candidates if crops were asked for.
    Done {
        upright: (u32, u32),
        per_tool: Vec<Scored>,
        crop: Option<RgbImage>,
    },
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if raw.is_empty() {
        println!(
            "render_quality: nothing to score (run `bash benches/render.sh`, or pass \
             OUTPUTS... ORIGINALS SIZE after `--`)"
        );
        return ExitCode::SUCCESS;
    }
    let args = match parse_args(raw) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("render_quality: {e}");
            eprintln!(
                "usage: render_quality [--routes FILE] [--timings FILE] [--crops DIR] \
                 [--crop-count N] OUTPUTS... ORIGINALS SIZE"
            );
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("render_quality: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse_args(raw: Vec<String>) -> Result<Args, String> {
    let mut positional = Vec::new();
    let (mut routes, mut timings, mut crops, mut crop_count) = (None, None, None, 4usize);
    let mut it = raw.into_iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--routes" => routes = Some(PathBuf::from(value("--routes")?)),
            "--timings" => timings = Some(PathBuf::from(value("--timings")?)),
            "--crops" => crops = Some(PathBuf::from(value("--crops")?)),
            "--crop-count" => {
                let v = value("--crop-count")?;
                crop_count = v
                    .parse()
                    .map_err(|_| format!("--crop-count: not a number: {v}"))?;
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => positional.push(a),
        }
    }
    if positional.len() < 3 {
        return Err("need at least one outputs folder, the originals folder and the size".into());
    }
    let size_arg = positional.pop().unwrap_or_default();
    let size = size_arg
        .parse::<u32>()
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| format!("SIZE must be a positive integer, got {size_arg:?}"))?;
    let originals = PathBuf::from(positional.pop().unwrap_or_default());
    let outputs: Vec<PathBuf> = positional.into_iter().map(PathBuf::from).collect();
    for dir in outputs.iter().chain(std::iter::once(&originals)) {
        if !dir.is_dir() {
            return Err(format!("not a folder: {}", dir.display()));
        }
    }
    Ok(Args {
        outputs,
        originals,
        size,
        routes,
        timings,
        crops,
        crop_count,
    })
}

/// A column label: the output folder's name.
fn label(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Whether the first bytes are those of an image format the tools here read.
fn looks_like_image(path: &Path) -> bool {
    let mut head = [0u8; 12];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    let head = &head[..n];
    head.starts_with(&[0xFF, 0xD8, 0xFF])
        || head.starts_with(b"\x89PNG\r\n\x1a\n")
        || (head.starts_with(b"RIFF") && head.len() >= 12 && &head[8..12] == b"WEBP")
        || head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
}

fn run(args: &Args) -> Result<bool, String> {
    let labels: Vec<String> = args.outputs.iter().map(|d| label(d)).collect();
    let mut originals = Vec::new();
    let mut not_images = Vec::new();
    let entries = std::fs::read_dir(&args.originals)
        .map_err(|e| format!("{}: {e}", args.originals.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if !path.is_file() {
            continue;
        }
        if looks_like_image(&path) {
            originals.push(path);
        } else {
            not_images.push(file_name(&path));
        }
    }
    originals.sort();
    not_images.sort();
    if originals.is_empty() {
        return Err(format!("no images in {}", args.originals.display()));
    }
    let routes = match &args.routes {
        Some(p) => read_routes(p, args.size)?,
        None => HashMap::new(),
    };
    let timings = match &args.timings {
        Some(p) => read_timings(p)?,
        None => HashMap::new(),
    };

    // Score the files on every core: the reference resize dominates.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileResult>>> =
        Mutex::new((0..originals.len()).map(|_| None).collect());
    let want_crops = args.crops.is_some();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(originals.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(original) = originals.get(i) else {
                    break;
                };
                let result = score_file(original, &args.outputs, args.size, want_crops);
                eprint!(".");
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
            });
        }
    });
    eprintln!();
    let results: Vec<FileResult> = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| FileResult::Skipped("not scored (thread failed)".into())))
        .collect();

    let names: Vec<String> = originals.iter().map(|p| file_name(p)).collect();
    let ok = report(
        args,
        &labels,
        &names,
        &results,
        &routes,
        &timings,
        &not_images,
    );
    if let Some(dir) = &args.crops {
        write_crops(dir, args, &labels, &names, &results)?;
    }
    Ok(ok)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Decodes a file with the `image` crate, EXIF orientation applied, unless the tag is
/// stale by venuebox's rule (`JpegMeta::orientation_for`: an editor turned the pixels
/// and left the tag), when the picture as stored is the upright one.
fn decode_upright(path: &Path) -> Result<DynamicImage, String> {
    let mut reader = ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    reader.no_limits();
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(format!("{width}x{height} is more than {MAX_PIXELS} pixels"));
    }
    let mut orientation = decoder.orientation().map_err(|e| e.to_string())?;
    let head = std::fs::read(path).map_err(|e| e.to_string())?;
    if head.starts_with(&[0xFF, 0xD8])
        && venuebox::media::jpeg::jpeg_meta(&head).orientation_for(width as usize, height as usize)
            == 1
    {
        orientation = image::metadata::Orientation::NoTransforms;
    }
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Finds `<stem>_<size>.<ext>` in `dir`.
fn find_output(dir: &Path, stem: &str, size: u32) -> Option<PathBuf> {
    OUTPUT_EXTENSIONS
        .iter()
        .map(|ext| dir.join(format!("{stem}_{size}.{ext}")))
        .find(|p| p.is_file())
}

/// The dimensions an upright derivative with longest edge `size` should have
/// (never enlarged).
fn expected_dims(upright: (u32, u32), size: u32) -> (f64, f64) {
    let (w, h) = (f64::from(upright.0), f64::from(upright.1));
    let scale = (f64::from(size) / w.max(h)).min(1.0);
    (w * scale, h * scale)
}

fn score_file(original: &Path, outputs: &[PathBuf], size: u32, want_crops: bool) -> FileResult {
    let reference = match decode_upright(original) {
        Ok(img) => img.to_rgb32f(),
        Err(e) => return FileResult::Skipped(e),
    };
    let upright = reference.dimensions();
    let stem = original
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // References by output dimensions: tools often agree, and the resize is the slow part.
    let mut references: HashMap<(u32, u32), Rgb32FImage> = HashMap::new();
    let mut decoded: Vec<Option<Rgb32FImage>> = Vec::new();
    let mut per_tool = Vec::new();
    for dir in outputs {
        let Some(path) = find_output(dir, &stem, size) else {
            per_tool.push(Scored::Failed(format!(
                "no {stem}_{size}.* in {}",
                dir.display()
            )));
            decoded.push(None);
            continue;
        };
        let out = match decode_upright(&path) {
            Ok(img) => img.to_rgb32f(),
            Err(e) => {
                per_tool.push(Scored::Failed(format!("{}: {e}", path.display())));
                decoded.push(None);
                continue;
            }
        };
        let (width, height) = out.dimensions();
        let (ew, eh) = expected_dims(upright, size);
        let note = ((f64::from(width) - ew).abs() > 1.0 || (f64::from(height) - eh).abs() > 1.0)
            .then(|| {
                format!(
                    "{width}x{height}, expected about {ew:.0}x{eh:.0} (upright, longest edge \
                     {size}, not enlarged){}",
                    if (width > height) != (upright.0 > upright.1) && upright.0 != upright.1 {
                        ": not rotated?"
                    } else {
                        ""
                    }
                )
            });
        let reference_here = references.entry((width, height)).or_insert_with(|| {
            if (width, height) == upright {
                reference.clone()
            } else {
                let mut r =
                    image::imageops::resize(&reference, width, height, FilterType::Lanczos3);
                r.pixels_mut()
                    .for_each(|p| p.0.iter_mut().for_each(|c| *c = c.clamp(0.0, 1.0)));
                r
            }
        });
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        per_tool.push(match ssimulacra2(reference_here, &out) {
            Ok(score) => Scored::Score {
                score,
                width,
                height,
                bytes,
                note,
            },
            Err(e) => Scored::Failed(format!("{}: {e}", path.display())),
        });
        decoded.push(Some(out));
    }
    let crop = if want_crops {
        crop_strip(&references, &decoded)
    } else {
        None
    };
    FileResult::Done {
        upright,
        per_tool,
        crop,
    }
}

fn to_rgb(img: &Rgb32FImage) -> Result<Rgb, String> {
    let data: Vec<[f32; 3]> = img.pixels().map(|p| p.0).collect();
    Rgb::new(
        data,
        img.width() as usize,
        img.height() as usize,
        TransferCharacteristic::SRGB,
        ColorPrimaries::BT709,
    )
    .map_err(|e| format!("{e:?}"))
}

fn ssimulacra2(reference: &Rgb32FImage, output: &Rgb32FImage) -> Result<f64, String> {
    compute_frame_ssimulacra2(to_rgb(reference)?, to_rgb(output)?).map_err(|e| e.to_string())
}

/// The same region of the reference and every output, side by side at 100 %: the
/// window where the first two outputs differ most (or the first and the reference).
fn crop_strip(
    references: &HashMap<(u32, u32), Rgb32FImage>,
    decoded: &[Option<Rgb32FImage>],
) -> Option<RgbImage> {
    let first = decoded.first()?.as_ref()?;
    let dims = first.dimensions();
    let reference = references.get(&dims)?;
    let other = decoded
        .get(1)
        .and_then(|o| o.as_ref())
        .filter(|o| o.dimensions() == dims)
        .unwrap_or(reference);
    let (w, h) = dims;
    let side_w = CROP_SIDE.min(w);
    let side_h = CROP_SIDE.min(h);
    // Summed-area table of the per-pixel difference, to rank windows cheaply.
    let stride = w as usize + 1;
    let mut sat = vec![0f64; stride * (h as usize + 1)];
    for y in 0..h {
        let mut row = 0f64;
        for x in 0..w {
            let a = first.get_pixel(x, y).0;
            let b = other.get_pixel(x, y).0;
            row += f64::from((a[0] - b[0]).abs() + (a[1] - b[1]).abs() + (a[2] - b[2]).abs());
            let i = (y as usize + 1) * stride + x as usize + 1;
            sat[i] = sat[i - stride] + row;
        }
    }
    let window = |x: u32, y: u32| {
        let (x0, y0, x1, y1) = (
            x as usize,
            y as usize,
            (x + side_w) as usize,
            (y + side_h) as usize,
        );
        sat[y1 * stride + x1] - sat[y0 * stride + x1] - sat[y1 * stride + x0]
            + sat[y0 * stride + x0]
    };
    let (mut best, mut at) = (-1f64, (0, 0));
    for y in (0..=h - side_h).step_by(8) {
        for x in (0..=w - side_w).step_by(8) {
            let d = window(x, y);
            if d > best {
                best = d;
                at = (x, y);
            }
        }
    }
    let panels: Vec<&Rgb32FImage> = std::iter::once(reference)
        .chain(decoded.iter().flatten())
        .collect();
    let n = panels.len() as u32;
    let mut strip = RgbImage::from_pixel(
        n * side_w + (n - 1) * CROP_GAP,
        side_h,
        image::Rgb([48, 48, 48]),
    );
    for (k, panel) in panels.iter().enumerate() {
        let x0 = k as u32 * (side_w + CROP_GAP);
        for y in 0..side_h {
            for x in 0..side_w {
                let (sx, sy) = (at.0 + x, at.1 + y);
                if sx < panel.width() && sy < panel.height() {
                    let p = panel.get_pixel(sx, sy).0;
                    let px = p.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8);
                    strip.put_pixel(x0 + x, y, image::Rgb(px));
                }
            }
        }
    }
    Some(strip)
}

fn read_routes(path: &Path, size: u32) -> Result<HashMap<String, RouteLine>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut routes = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || {
            format!(
                "{}:{}: not a `venuebox render` line: {line:?}",
                path.display(),
                n + 1
            )
        };
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 6 {
            return Err(bad());
        }
        let line_size: u32 = f[1].parse().map_err(|_| bad())?;
        if line_size != size {
            continue;
        }
        let ms = |s: &str| s.parse::<f64>().map_err(|_| bad());
        let name = file_name(Path::new(f[0]));
        routes.insert(
            name,
            RouteLine {
                route: f[2].to_string(),
                decode_ms: ms(f[3])?,
                resize_ms: ms(f[4])?,
                encode_ms: ms(f[5])?,
            },
        );
    }
    Ok(routes)
}

/// Per-process wall times: (tool, file name) → ms.
fn read_timings(path: &Path) -> Result<HashMap<(String, String), f64>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut timings = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let ms = f.get(2).and_then(|s| s.parse::<f64>().ok());
        match (f.len(), ms) {
            (3, Some(ms)) => {
                timings.insert((f[0].to_string(), file_name(Path::new(f[1]))), ms);
            }
            _ => {
                return Err(format!(
                    "{}:{}: expected tool<TAB>file<TAB>ms",
                    path.display(),
                    n + 1
                ))
            }
        }
    }
    Ok(timings)
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 0 {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    })
}

fn fmt_opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

/// The score of tool `t` for a file, if it has one.
fn score_of(result: &FileResult, t: usize) -> Option<f64> {
    match result {
        FileResult::Done { per_tool, .. } => match per_tool.get(t) {
            Some(Scored::Score { score, .. }) => Some(*score),
            _ => None,
        },
        FileResult::Skipped(_) => None,
    }
}

/// The per-file quality gate: no file's score of the first folder may trail the
/// second's by more than this many SSIMULACRA2 points (issue 17, item 3). Two points
/// is about what the eye cannot tell apart in the crops at 100 % (docs/benchmarks.md).
const MAX_FILE_GAP: f64 = 2.0;

/// The file where the first folder trails the second the most.
struct WorstFile {
    /// Index into the originals.
    file: usize,
    /// The first folder's score.
    first: f64,
    /// The second folder's score.
    second: f64,
    /// `second - first`: positive when the first trails.
    gap: f64,
}

/// How far the first folder's score trails the second's for one file.
fn gap_of(result: &FileResult) -> Option<f64> {
    Some(score_of(result, 1)? - score_of(result, 0)?)
}

/// The file of `files` with the largest [`gap_of`], if any has both scores.
fn worst_gap(results: &[FileResult], files: &[usize]) -> Option<WorstFile> {
    files
        .iter()
        .filter_map(|&i| {
            Some(WorstFile {
                file: i,
                first: score_of(&results[i], 0)?,
                second: score_of(&results[i], 1)?,
                gap: gap_of(&results[i])?,
            })
        })
        .max_by(|a, b| a.gap.total_cmp(&b.gap))
}

/// Prints the tables; returns false when an output was missing or unscorable.
#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    labels: &[String],
    names: &[String],
    results: &[FileResult],
    routes: &HashMap<String, RouteLine>,
    timings: &HashMap<(String, String), f64>,
    not_images: &[String],
) -> bool {
    let out = std::io::stdout();
    let mut out = out.lock();
    let size = args.size;
    let name_w = names.iter().map(|n| n.len()).max().unwrap_or(4).max(4);
    let col_w = labels.iter().map(|l| l.len()).max().unwrap_or(8).max(9);
    let have_routes = !routes.is_empty();
    let _ = writeln!(
        out,
        "SSIMULACRA2 at size {size} (higher is better, 100 = identical; reference: image 0.25 \
         full decode, EXIF orientation, Lanczos3 to each output's dimensions)"
    );
    let mut header = format!("  {:<name_w$}", "file");
    if have_routes {
        header.push_str(&format!("  {:<14}", "route"));
    }
    for l in labels {
        header.push_str(&format!("  {l:>col_w$}"));
    }
    header.push_str("  dimensions");
    let _ = writeln!(out, "{header}");

    let mut ok = true;
    let mut notes = Vec::new();
    for (name, result) in names.iter().zip(results) {
        let mut row = format!("  {name:<name_w$}");
        if have_routes {
            let route = routes.get(name).map_or("-", |r| r.route.as_str());
            row.push_str(&format!("  {route:<14}"));
        }
        match result {
            FileResult::Skipped(why) => {
                row.push_str("  skipped: the reference decoder cannot read it");
                notes.push(format!("{name}: skipped, reference decode failed: {why}"));
            }
            FileResult::Done {
                upright, per_tool, ..
            } => {
                let mut dims = Vec::new();
                for (t, s) in per_tool.iter().enumerate() {
                    match s {
                        Scored::Score {
                            score,
                            width,
                            height,
                            note,
                            ..
                        } => {
                            row.push_str(&format!("  {score:>col_w$.2}"));
                            dims.push(format!("{width}x{height}"));
                            if let Some(note) = note {
                                notes.push(format!("{name}: {}: {note}", labels[t]));
                            }
                        }
                        Scored::Failed(why) => {
                            ok = false;
                            row.push_str(&format!("  {:>col_w$}", "FAILED"));
                            dims.push("-".into());
                            notes.push(format!("{name}: {}: {why}", labels[t]));
                        }
                    }
                }
                dims.dedup();
                row.push_str(&format!(
                    "  {} (original upright {}x{})",
                    dims.join(" / "),
                    upright.0,
                    upright.1
                ));
            }
        }
        let _ = writeln!(out, "{row}");
    }

    // Summaries over the files every tool has a score for, so medians compare like with like.
    let common: Vec<usize> = (0..results.len())
        .filter(|&i| (0..labels.len()).all(|t| score_of(&results[i], t).is_some()))
        .collect();
    let scores = |t: usize, files: &[usize]| -> Vec<f64> {
        files
            .iter()
            .filter_map(|&i| score_of(&results[i], t))
            .collect()
    };
    let mut line = |title: &str, f: &dyn Fn(usize) -> String| {
        let mut row = format!(
            "  {title:<w$}",
            w = name_w + if have_routes { 16 } else { 0 }
        );
        for t in 0..labels.len() {
            row.push_str(&format!("  {:>col_w$}", f(t)));
        }
        let _ = writeln!(out, "{row}");
    };
    line(&format!("median ({} files)", common.len()), &|t| {
        fmt_opt(median(&scores(t, &common)), 2)
    });
    line("mean", &|t| {
        let s = scores(t, &common);
        fmt_opt(
            (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64),
            2,
        )
    });
    line("minimum", &|t| {
        fmt_opt(scores(t, &common).into_iter().min_by(f64::total_cmp), 2)
    });
    line("output KiB, total", &|t| {
        let total: u64 = common
            .iter()
            .filter_map(|&i| match &results[i] {
                FileResult::Done { per_tool, .. } => match per_tool.get(t) {
                    Some(Scored::Score { bytes, .. }) => Some(*bytes),
                    _ => None,
                },
                FileResult::Skipped(_) => None,
            })
            .sum();
        format!("{:.0}", total as f64 / 1024.0)
    });
    if labels.len() >= 2 {
        let (a, b) = (median(&scores(0, &common)), median(&scores(1, &common)));
        if let (Some(a), Some(b)) = (a, b) {
            let _ = writeln!(
                out,
                "  target, {} median >= {} median: {:.2} vs {:.2}: {}",
                labels[0],
                labels[1],
                a,
                b,
                if a >= b { "met" } else { "MISSED" }
            );
        }
        if let Some(worst) = worst_gap(results, &common) {
            let trailing = common
                .iter()
                .filter(|&&i| gap_of(&results[i]).is_some_and(|g| g > MAX_FILE_GAP))
                .count();
            let _ = writeln!(
                out,
                "  worst file for {}: {} ({:.2} vs {} {:.2}, {:.2} points below)",
                labels[0], names[worst.file], worst.first, labels[1], worst.second, worst.gap
            );
            let _ = writeln!(
                out,
                "  target, no {} file more than {MAX_FILE_GAP:.0} points below {}: worst gap \
                 {:.2} ({}), {trailing} of {} files over: {}",
                labels[0],
                labels[1],
                worst.gap,
                names[worst.file],
                common.len(),
                if trailing == 0 { "met" } else { "MISSED" }
            );
        }
    }
    if !not_images.is_empty() {
        notes.push(format!("not images, left out: {}", not_images.join(", ")));
    }
    for n in &notes {
        let _ = writeln!(out, "  note: {n}");
    }

    if have_routes {
        report_routes(&mut out, args, labels, names, results, routes, timings);
    }
    ok
}

#[allow(clippy::too_many_arguments)]
fn report_routes(
    out: &mut impl Write,
    args: &Args,
    labels: &[String],
    names: &[String],
    results: &[FileResult],
    routes: &HashMap<String, RouteLine>,
    timings: &HashMap<(String, String), f64>,
) {
    let mut by_route: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let route = routes.get(name).map_or("(no line)", |r| r.route.as_str());
        by_route.entry(route).or_default().push(i);
    }
    let _ = writeln!(
        out,
        "\nPer route at size {} (routes and decode/resize/encode: {}'s own stdout lines, \
         medians; ms/img: one process per file, wall time, median; SSIM2: medians)",
        args.size, labels[0]
    );
    let mut header = format!(
        "  {:<14} {:>5} {:>9} {:>9} {:>9}",
        "route", "files", "decode", "resize", "encode"
    );
    for l in labels {
        header.push_str(&format!(
            " {:>w$}",
            format!("{l} ms/img"),
            w = l.len().max(6) + 7
        ));
    }
    for l in labels {
        header.push_str(&format!(
            " {:>w$}",
            format!("SSIM2 {l}"),
            w = l.len().max(4) + 6
        ));
    }
    let _ = writeln!(out, "{header}");
    for (route, files) in &by_route {
        let field = |f: &dyn Fn(&RouteLine) -> f64| {
            let v: Vec<f64> = files
                .iter()
                .filter_map(|&i| routes.get(&names[i]).map(f))
                .collect();
            fmt_opt(median(&v), 1)
        };
        let mut row = format!(
            "  {route:<14} {:>5} {:>9} {:>9} {:>9}",
            files.len(),
            field(&|r| r.decode_ms),
            field(&|r| r.resize_ms),
            field(&|r| r.encode_ms),
        );
        for l in labels {
            let v: Vec<f64> = files
                .iter()
                .filter_map(|&i| timings.get(&(l.clone(), names[i].clone())).copied())
                .collect();
            row.push_str(&format!(
                " {:>w$}",
                fmt_opt(median(&v), 1),
                w = l.len().max(6) + 7
            ));
        }
        for (t, l) in labels.iter().enumerate() {
            let v: Vec<f64> = files
                .iter()
                .filter_map(|&i| score_of(&results[i], t))
                .collect();
            row.push_str(&format!(
                " {:>w$}",
                fmt_opt(median(&v), 2),
                w = l.len().max(4) + 6
            ));
        }
        let _ = writeln!(out, "{row}");
    }
    let unknown: Vec<&str> = by_route
        .keys()
        .copied()
        .filter(|r| !KNOWN_ROUTES.contains(r))
        .collect();
    if !unknown.is_empty() {
        let _ = writeln!(out, "  note: unexpected routes: {}", unknown.join(", "));
    }
}

/// Writes the crop strips of the files where the first tool trails the second the most.
fn write_crops(
    dir: &Path,
    args: &Args,
    labels: &[String],
    names: &[String],
    results: &[FileResult],
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut ranked: Vec<(f64, usize)> = (0..results.len())
        .filter_map(|i| {
            let a = score_of(&results[i], 0)?;
            let b = if labels.len() >= 2 {
                score_of(&results[i], 1)?
            } else {
                100.0
            };
            Some((b - a, i))
        })
        .collect();
    ranked.sort_by(|x, y| y.0.total_cmp(&x.0));
    let order = std::iter::once("reference")
        .chain(labels.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" | ");
    println!(
        "\nCrops at 100 % (left to right: {order}), where {} trails {} the most:",
        labels[0],
        labels.get(1).map_or("the reference", String::as_str)
    );
    for &(gap, i) in ranked.iter().take(args.crop_count) {
        let FileResult::Done {
            crop: Some(strip), ..
        } = &results[i]
        else {
            continue;
        };
        let stem = Path::new(&names[i])
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = dir.join(format!("{stem}_{}.png", args.size));
        strip
            .save(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("  {} (score gap {gap:.2})", path.display());
    }
    Ok(())
}
