//! The serial scanner's line framing (hw::serial::LineFramer). The first byte picks
//! the maximum line length (0–63) and the size of the pieces the rest arrives in (as
//! reads from a tty return it). Invariants: no line is longer than the maximum, none
//! is empty or holds a control character (CR and LF included); how the stream is cut
//! into reads changes nothing; every line is a line of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venuebox::hw::serial::{Frame, LineFramer};

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let max = usize::from(first & 0x3F);
    let piece = usize::from(first >> 6) * 7 + 1;
    let whole = LineFramer::new(max).push(stream);
    let mut framer = LineFramer::new(max);
    let pieces: Vec<Frame> = stream.chunks(piece).flat_map(|c| framer.push(c)).collect();
    assert_eq!(pieces, whole);
    for frame in &whole {
        if let Frame::Line(line) = frame {
            assert!(
                !line.is_empty() && line.len() <= max,
                "{line:?} (max {max})"
            );
            assert!(!line.chars().any(char::is_control), "{line:?}");
            let bytes = line.as_bytes();
            assert!(stream.windows(bytes.len()).any(|w| w == bytes));
        }
    }
});
