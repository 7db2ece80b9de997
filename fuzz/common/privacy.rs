//! The invariants every privacy scrubber target checks (media::privacy::full_plan):
//! - the plan's pieces are inside the original and add up to its length;
//! - any two slices of the plan assemble to the whole;
//! - the scrubbed output's EXIF, as kamadak-exif reads it, holds no private field;
//! - the output re-parses as the same format and scrubbing it again changes nothing
//!   (a fixed point), where `fixed_point` asks for it: every privacy target does since
//!   the last open findings were fixed (docs/fuzzing.md; inputs in fuzz/regressions/).

use venuebox::media::privacy::{exif_block, full_plan, is_private, FullPlan};

/// Scrubs `data` as `media_type` and checks the invariants above.
pub fn check(data: &[u8], media_type: &str, fixed_point: bool) {
    let Ok(plan) = full_plan(data, media_type) else {
        return;
    };
    let out = plan.assemble(data);
    assert_eq!(out.len() as u64, plan.len());
    let cut = (data.len() as u64).wrapping_mul(7919) % (plan.len() + 1);
    let part = |range| {
        FullPlan {
            pieces: plan.slice(range),
            ..plan.clone()
        }
        .assemble(data)
    };
    assert_eq!([part(0..cut), part(cut..plan.len())].concat(), out);
    if let Some(block) = exif_block(&out) {
        if let Ok(exif) = exif::Reader::new().read_raw(block.to_vec()) {
            for field in exif.fields() {
                assert!(
                    !is_private(field.tag),
                    "private {} left in the scrubbed output",
                    field.tag
                );
            }
        }
    }
    if !fixed_point {
        return;
    }
    let again = match full_plan(&out, media_type) {
        Ok(again) => again,
        Err(e) => panic!("the scrubbed output does not re-parse: {e}"),
    };
    assert!(
        again.assemble(&out) == out,
        "scrubbing twice changes the output"
    );
}
