//! The colour space of a photo that carries no ICC profile, from what its EXIF says,
//! and the ICC profile that says it to viewers: an Adobe RGB (1998)-compatible one,
//! made here from the published numbers.
//!
//! Cameras set to Adobe RGB write no ICC profile (DCF 2.0 marks the colour space in
//! EXIF instead): only EXIF ColorSpace = 0xFFFF ("uncalibrated") and, in the
//! Interoperability IFD, InteroperabilityIndex = "R03" ("DCF option file", the Adobe
//! RGB one). Browsers read only ICC profiles, so without one they show such a photo as
//! sRGB, its saturated colours about a fifth duller. Rendering ([`super::render`]) tags
//! the derivatives of such photos with [`adobe_rgb_profile`], and the full download
//! ([`super::privacy`]) gets it too; the pixels are never converted (docs/decisions.md,
//! "Colour").
//!
//! Pure functions on bytes; nothing here panics on bad input.

use std::sync::OnceLock;

/// What a photo's EXIF says its pixels are encoded in. Only asked when the photo has
/// no ICC profile of its own: an embedded profile always wins over EXIF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExifColourSpace {
    /// sRGB: ColorSpace = 1 (whatever else the EXIF says), or a DCF basic file
    /// (InteroperabilityIndex "R98"). What an untagged image means anyway.
    Srgb,
    /// Adobe RGB (1998): InteroperabilityIndex "R03" (a DCF option file) with ColorSpace
    /// 0xFFFF (uncalibrated) or absent, as cameras write it; or ColorSpace = 2, a value
    /// Exif does not define but some writers use for Adobe RGB (ExifTool lists it).
    AdobeRgb,
    /// Nothing recognisable: no EXIF, no colour fields, "uncalibrated" alone (any
    /// colour space; that is all it says), or a vendor value such as Sony's 0xFFFD
    /// ("Wide Gamut RGB").
    #[default]
    Unstated,
}

/// EXIF ColorSpace (tag 0xA001 of the Exif IFD; Exif 2.32, CIPA DC-008-2019, "Tags
/// Relating to Image Data Characteristics"): 1 = sRGB, 0xFFFF = uncalibrated.
const SRGB: u32 = 1;
/// Not defined by Exif; written for Adobe RGB by some cameras and software.
const ADOBE_RGB_NONSTANDARD: u32 = 2;
const UNCALIBRATED: u32 = 0xFFFF;

impl ExifColourSpace {
    /// What the EXIF block `tiff` (TIFF bytes, as in a JPEG's APP1 after `Exif\0\0`)
    /// says: its primary image's ColorSpace (Exif IFD, 0xA001) and InteroperabilityIndex
    /// (tag 0x0001 of the Interoperability IFD; Exif 2.32, "Interoperability IFD
    /// Attribute Information"; the values are DCF's: "R98" basic file, sRGB; "R03"
    /// option file, Adobe RGB — DCF 2.0, CIPA DC-009-2010 / JEITA CP-3461B).
    /// [`ExifColourSpace::Unstated`] when the block cannot be read.
    pub fn of_exif(tiff: &[u8]) -> ExifColourSpace {
        let Ok(exif) = exif::Reader::new().read_raw(tiff.to_vec()) else {
            return ExifColourSpace::Unstated;
        };
        let colour_space = exif
            .get_field(exif::Tag::ColorSpace, exif::In::PRIMARY)
            .and_then(|f| f.value.get_uint(0));
        let index = exif
            .get_field(exif::Tag::InteroperabilityIndex, exif::In::PRIMARY)
            .and_then(|f| match &f.value {
                exif::Value::Ascii(parts) => parts.first().map(|p| p.trim_ascii().to_vec()),
                // Some writers store it as UNDEFINED bytes.
                exif::Value::Undefined(bytes, _) => Some(bytes.trim_ascii().to_vec()),
                _ => None,
            });
        let index = index.as_deref().map(|i| i.strip_suffix(b"\0").unwrap_or(i));
        match (colour_space, index) {
            (Some(SRGB), _) => ExifColourSpace::Srgb,
            (Some(ADOBE_RGB_NONSTANDARD), _) => ExifColourSpace::AdobeRgb,
            (Some(UNCALIBRATED) | None, Some(b"R03")) => ExifColourSpace::AdobeRgb,
            (_, Some(b"R98")) => ExifColourSpace::Srgb,
            _ => ExifColourSpace::Unstated,
        }
    }
}

/// The ICC profile a photo without one of its own should be shown with, from its EXIF
/// block `exif` (TIFF bytes): [`adobe_rgb_profile`] when the EXIF says Adobe RGB,
/// `None` otherwise (sRGB, or nothing known: untagged, shown as sRGB, as before).
pub fn implied_profile(exif: Option<&[u8]>) -> Option<&'static [u8]> {
    match exif.map(ExifColourSpace::of_exif) {
        Some(ExifColourSpace::AdobeRgb) => Some(adobe_rgb_profile()),
        _ => None,
    }
}

/// The description of [`adobe_rgb_profile`]: the wording Adobe allows for what is
/// not its own profile ("compatible with the Adobe RGB (1998) ICC profile"; the name
/// alone is Adobe's trademark for its profile).
pub const ADOBE_RGB_DESCRIPTION: &str = "Compatible with Adobe RGB (1998)";

/// An ICC profile compatible with Adobe RGB (1998), 496 bytes: version 2.1 (read by
/// every colour-managed viewer; Firefox long ignored v4 profiles by default), display
/// class, RGB to PCSXYZ by a matrix and three equal gamma curves, as Adobe's own
/// profile is. Made here from the numbers of the Adobe RGB (1998) Color Image Encoding
/// specification (version 2005-05): primaries red (0.6400, 0.3300), green (0.2100,
/// 0.7100), blue (0.1500, 0.0600), white D65 (0.3127, 0.3290), gamma 563/256
/// (2.19921875, exactly representable in a v2 `curv`). The colorants are adapted to
/// the D50 PCS by the Bradford transform (what ICC v4 recommends, and what Adobe's
/// profile holds) and balanced so that R = G = B maps to D50 exactly; they agree with
/// Adobe's profile to the fifth decimal (±0.00001). No third-party profile bytes are
/// copied, so no licence comes with it.
pub fn adobe_rgb_profile() -> &'static [u8] {
    static PROFILE: OnceLock<Vec<u8>> = OnceLock::new();
    PROFILE.get_or_init(|| {
        matrix_trc_profile(
            ADOBE_RGB_DESCRIPTION,
            [(0.6400, 0.3300), (0.2100, 0.7100), (0.1500, 0.0600)],
            (0.3127, 0.3290),
            0x0233, // 563/256 as u8Fixed8Number
        )
    })
}

type Matrix = [[f64; 3]; 3];

/// XYZ of chromaticity (x, y) at Y = 1.
fn xyz_of(x: f64, y: f64) -> [f64; 3] {
    [x / y, 1.0, (1.0 - x - y) / y]
}

fn apply(m: &Matrix, v: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| m[i][0] * v[0] + m[i][1] * v[1] + m[i][2] * v[2])
}

fn multiply(a: &Matrix, b: &Matrix) -> Matrix {
    [0, 1, 2].map(|i| [0, 1, 2].map(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

fn inverse(m: &Matrix) -> Matrix {
    let [[a, b, c], [d, e, f], [g, h, i]] = *m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    [
        [e * i - f * h, c * h - b * i, b * f - c * e],
        [f * g - d * i, a * i - c * g, c * d - a * f],
        [d * h - e * g, b * g - a * h, a * e - b * d],
    ]
    .map(|row| row.map(|v| v / det))
}

/// The PCS illuminant, D50, as ICC.1 gives it (header bytes 68–79).
const D50: [f64; 3] = [0.9642, 1.0, 0.8249];

/// The Bradford cone response matrix.
const BRADFORD: Matrix = [
    [0.8951, 0.2664, -0.1614],
    [-0.7502, 1.7135, 0.0367],
    [0.0389, -0.0685, 1.0296],
];

/// s15Fixed16Number.
fn fixed(v: f64) -> i32 {
    (v * 65536.0).round() as i32
}

/// The D50-adapted colorants (columns red, green, blue) of an RGB space with
/// `primaries` and `white`, as s15Fixed16 numbers whose rows sum to D50 exactly (a
/// rounding remainder goes to each row's largest entry), so neutral stays neutral.
fn colorants(primaries: [(f64, f64); 3], white: (f64, f64)) -> [[i32; 3]; 3] {
    let p = primaries.map(|(x, y)| xyz_of(x, y));
    let m: Matrix = [0, 1, 2].map(|i| [p[0][i], p[1][i], p[2][i]]);
    let w = xyz_of(white.0, white.1);
    let s = apply(&inverse(&m), w);
    let rgb_to_xyz: Matrix = [0, 1, 2].map(|i| [0, 1, 2].map(|j| m[i][j] * s[j]));
    let (cone_white, cone_d50) = (apply(&BRADFORD, w), apply(&BRADFORD, D50));
    let mut scale = [[0.0; 3]; 3];
    for i in 0..3 {
        scale[i][i] = cone_d50[i] / cone_white[i];
    }
    let adapt = multiply(&inverse(&BRADFORD), &multiply(&scale, &BRADFORD));
    let c = multiply(&adapt, &rgb_to_xyz);
    let mut out = c.map(|row| row.map(fixed));
    for (row, d50) in out.iter_mut().zip(D50) {
        let remainder = fixed(d50) - row.iter().sum::<i32>();
        let largest = (0..3).max_by_key(|&j| row[j]).unwrap_or(0);
        row[largest] += remainder;
    }
    out
}

/// A v2.1 display profile, RGB → PCSXYZ by matrix/TRC: tags `desc`, `cprt`, `wtpt`
/// (the media white: `white`, unadapted, as v2 profiles record it), `rXYZ`, `gXYZ`,
/// `bXYZ`, and one `curv` of gamma `gamma` (u8Fixed8Number) shared by `rTRC`, `gTRC`
/// and `bTRC` (ICC.1:2001-04, sections 6.3 and 6.5).
fn matrix_trc_profile(
    description: &str,
    primaries: [(f64, f64); 3],
    white: (f64, f64),
    gamma: u16,
) -> Vec<u8> {
    fn pad4(v: &mut Vec<u8>) {
        while v.len() % 4 != 0 {
            v.push(0);
        }
    }
    let xyz_tag = |xyz: [i32; 3]| {
        let mut t = b"XYZ \0\0\0\0".to_vec();
        for v in xyz {
            t.extend_from_slice(&v.to_be_bytes());
        }
        t
    };
    // textDescriptionType: ASCII with its NUL, an empty Unicode and ScriptCode part.
    let mut desc = b"desc\0\0\0\0".to_vec();
    desc.extend_from_slice(&(description.len() as u32 + 1).to_be_bytes());
    desc.extend_from_slice(description.as_bytes());
    desc.push(0);
    desc.extend_from_slice(&[0; 8]); // Unicode language code, count 0
    desc.extend_from_slice(&[0; 3]); // ScriptCode code, count 0
    desc.extend_from_slice(&[0; 67]); // the fixed ScriptCode field
    let mut cprt = b"text\0\0\0\0".to_vec();
    cprt.extend_from_slice(b"No copyright, use freely\0");
    let c = colorants(primaries, white);
    let w = xyz_of(white.0, white.1).map(fixed);
    let mut curv = b"curv\0\0\0\0".to_vec();
    curv.extend_from_slice(&1u32.to_be_bytes());
    curv.extend_from_slice(&gamma.to_be_bytes());

    let tags: [(&[u8; 4], Vec<u8>); 6] = [
        (b"desc", desc),
        (b"cprt", cprt),
        (b"wtpt", xyz_tag(w)),
        (b"rXYZ", xyz_tag([c[0][0], c[1][0], c[2][0]])),
        (b"gXYZ", xyz_tag([c[0][1], c[1][1], c[2][1]])),
        (b"bXYZ", xyz_tag([c[0][2], c[1][2], c[2][2]])),
    ];
    let shared_trc: [&[u8; 4]; 3] = [b"rTRC", b"gTRC", b"bTRC"];
    let count = tags.len() + shared_trc.len();
    let mut table = Vec::with_capacity(4 + count * 12);
    table.extend_from_slice(&(count as u32).to_be_bytes());
    let mut data = Vec::new();
    let start = 128 + 4 + count * 12;
    for (signature, body) in &tags {
        table.extend_from_slice(*signature);
        table.extend_from_slice(&((start + data.len()) as u32).to_be_bytes());
        table.extend_from_slice(&(body.len() as u32).to_be_bytes());
        data.extend_from_slice(body);
        pad4(&mut data);
    }
    let curv_at = (start + data.len()) as u32;
    for signature in shared_trc {
        table.extend_from_slice(signature);
        table.extend_from_slice(&curv_at.to_be_bytes());
        table.extend_from_slice(&(curv.len() as u32).to_be_bytes());
    }
    data.extend_from_slice(&curv);
    pad4(&mut data);

    let size = start + data.len();
    let mut header = Vec::with_capacity(128);
    header.extend_from_slice(&(size as u32).to_be_bytes());
    header.extend_from_slice(&[0; 4]); // preferred CMM: none
    header.extend_from_slice(&[2, 0x10, 0, 0]); // version 2.1.0
    header.extend_from_slice(b"mntrRGB XYZ ");
    // Creation date, fixed so the profile (and every file carrying it) is the same
    // bytes on every build: 2026-11-30 00:00:00.
    for v in [2026u16, 11, 30, 0, 0, 0] {
        header.extend_from_slice(&v.to_be_bytes());
    }
    header.extend_from_slice(b"acsp");
    header.extend_from_slice(&[0; 24]); // platform, flags, manufacturer, model, attributes
    header.extend_from_slice(&0u32.to_be_bytes()); // rendering intent: perceptual
    for v in D50 {
        header.extend_from_slice(&fixed(v).to_be_bytes());
    }
    header.resize(128, 0); // creator, (v4's) profile ID and reserved bytes: zero
    let mut profile = header;
    profile.extend_from_slice(&table);
    profile.extend_from_slice(&data);
    debug_assert_eq!(profile.len(), size);
    profile
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exif_with(color_space: Option<u16>, index: Option<&str>) -> Vec<u8> {
        use exif::{Field, In, Tag, Value};
        let mut fields = vec![Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![1]),
        }];
        if let Some(v) = color_space {
            fields.push(Field {
                tag: Tag::ColorSpace,
                ifd_num: In::PRIMARY,
                value: Value::Short(vec![v]),
            });
        }
        if let Some(i) = index {
            fields.push(Field {
                tag: Tag::InteroperabilityIndex,
                ifd_num: In::PRIMARY,
                value: Value::Ascii(vec![i.as_bytes().to_vec()]),
            });
        }
        let mut writer = exif::experimental::Writer::new();
        for f in &fields {
            writer.push_field(f);
        }
        let mut tiff = std::io::Cursor::new(Vec::new());
        writer.write(&mut tiff, true).unwrap();
        tiff.into_inner()
    }

    #[test]
    fn every_signal_cameras_write_is_read() {
        use ExifColourSpace::*;
        for (color_space, index, want) in [
            (Some(0xFFFF), Some("R03"), AdobeRgb),
            (None, Some("R03"), AdobeRgb),
            (Some(2), None, AdobeRgb),
            (Some(1), Some("R03"), Srgb),
            (Some(1), None, Srgb),
            (None, Some("R98"), Srgb),
            (Some(0xFFFF), Some("R98"), Srgb),
            (Some(0), Some("R98"), Srgb), // GoPro HERO7 writes 0
            (Some(0xFFFF), None, Unstated),
            (Some(0xFFFD), Some("R03"), Unstated),
            (Some(0xFFFF), Some("THM"), Unstated),
            (None, None, Unstated),
        ] {
            assert_eq!(
                ExifColourSpace::of_exif(&exif_with(color_space, index)),
                want,
                "{color_space:?} {index:?}"
            );
        }
        assert_eq!(ExifColourSpace::of_exif(b"II*\0garbage"), Unstated);
        assert_eq!(ExifColourSpace::of_exif(b""), Unstated);
        assert_eq!(implied_profile(None), None);
        assert_eq!(
            implied_profile(Some(&exif_with(Some(0xFFFF), Some("R03")))),
            Some(adobe_rgb_profile())
        );
        assert_eq!(implied_profile(Some(&exif_with(Some(1), None))), None);
    }

    fn be32(p: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(p[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn the_profile_is_well_formed_and_adobe_s() {
        let p = adobe_rgb_profile();
        assert_eq!(p.len(), 496);
        assert_eq!(be32(p, 0) as usize, p.len(), "declared size");
        assert_eq!(&p[8..24], b"\x02\x10\0\0mntrRGB XYZ ");
        assert_eq!(&p[36..40], b"acsp");
        assert_eq!(
            [be32(p, 68), be32(p, 72), be32(p, 76)],
            [0xF6D6, 0x1_0000, 0xD32D]
        );
        // Every tag inside the profile, 4-byte aligned.
        let mut tags = std::collections::HashMap::new();
        for i in 0..be32(p, 128) as usize {
            let e = 132 + i * 12;
            let (offset, size) = (be32(p, e + 4) as usize, be32(p, e + 8) as usize);
            assert!(offset % 4 == 0 && offset + size <= p.len(), "tag {i}");
            tags.insert(&p[e..e + 4], &p[offset..offset + size]);
        }
        assert_eq!(tags.len(), 9);
        let xyz = |sig: &[u8]| {
            let t = tags[sig];
            assert_eq!(&t[..4], b"XYZ ");
            [8, 12, 16].map(|at| be32(t, at) as i32)
        };
        // Adobe's own AdobeRGB1998.icc, to 5 decimals: rXYZ 0.60974 0.31111 0.01947,
        // gXYZ 0.20528 0.62567 0.06087, bXYZ 0.14919 0.06322 0.74457.
        let adobe = [
            [0.60974, 0.31111, 0.01947],
            [0.20528, 0.62567, 0.06087],
            [0.14919, 0.06322, 0.74457],
        ];
        for (sig, want) in [b"rXYZ", b"gXYZ", b"bXYZ"].iter().zip(adobe) {
            for (got, want) in xyz(*sig).iter().zip(want) {
                assert!(
                    (*got as f64 / 65536.0 - want).abs() < 2.0 / 65536.0,
                    "{}: {got} for {want}",
                    String::from_utf8_lossy(*sig)
                );
            }
        }
        // Balanced: R = G = B is D50 exactly.
        let (r, g, b) = (xyz(b"rXYZ"), xyz(b"gXYZ"), xyz(b"bXYZ"));
        assert_eq!(
            [0, 1, 2].map(|i| r[i] + g[i] + b[i]),
            [0xF6D6, 0x1_0000, 0xD32D]
        );
        assert_eq!(xyz(b"wtpt"), [62289, 65536, 71372], "D65");
        for trc in [b"rTRC", b"gTRC", b"bTRC"] {
            assert_eq!(tags[&trc[..]], b"curv\0\0\0\0\0\0\0\x01\x02\x33");
        }
        let desc = tags[&b"desc"[..]];
        assert_eq!(&desc[..4], b"desc");
        let n = be32(desc, 8) as usize;
        assert_eq!(&desc[12..12 + n], b"Compatible with Adobe RGB (1998)\0");
        assert!(
            !desc.windows(4).any(|w| w == b"sRGB"),
            "never taken for sRGB"
        );
    }
}
